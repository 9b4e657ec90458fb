/* service.c - offramp daemons as child processes: start, announce, stop, reap. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "control/service.h"

static void nap(double s) {
   struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
   nanosleep(&ts, NULL);
}

char *Service_log_tail(const char *path, size_t max) {
   FILE *f = fopen(path, "r");
   if (!f)
      return xstrdup("");
   fseek(f, 0, SEEK_END);
   long size = ftell(f);
   long from = size > (long)max ? size - (long)max : 0;
   fseek(f, from, SEEK_SET);
   char *buf = xcalloc(max + 1, 1);
   size_t n = fread(buf, 1, max, f);
   buf[n] = '\0';
   fclose(f);
   return buf;
}

/* The URL after "listening on " in the log, or NULL. */
static char *announced(const char *log) {
   char *text = Service_log_tail(log, 1 << 16);
   char *p = strstr(text, "listening on "), *url = NULL;
   if (p) {
      p += strlen("listening on ");
      size_t n = strcspn(p, " \n");
      if (p[n] != '\0')   /* a whole word has been written */
         url = xstrndup(p, n);
   }
   free(text);
   return url;
}

bool Service_start(Service *s, const char *name, const char *const *args, const char *log, bool announce,
                   double timeout, char **err) {
   memset(s, 0, sizeof *s);
   s->name = xstrdup(name);
   s->log = xstrdup(log);
   char self[4096];
   ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
   if (n <= 0) {
      *err = xasprintf("%s: cannot find this program's path (/proc/self/exe): %s", name, strerror(errno));
      return false;
   }
   self[n] = '\0';
   int nargs = 0;
   while (args[nargs])
      nargs++;
   char **argv = xcalloc((size_t)nargs + 2, sizeof *argv);
   argv[0] = self;
   for (int i = 0; i < nargs; i++)
      argv[i + 1] = (char *)args[i];
   int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
   if (fd < 0) {
      *err = xasprintf("%s: cannot write its log %s: %s", name, log, strerror(errno));
      free(argv);
      return false;
   }
   pid_t parent = getpid();
   pid_t pid = fork();
   if (pid == 0) {
      /* Its own process group: ^C in the console is the console's; the parent's death still ends it. */
      setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent)
         _exit(1);
      int null = open("/dev/null", O_RDONLY);
      dup2(null, 0);
      dup2(fd, 1);
      dup2(fd, 2);
      execv(self, argv);
      _exit(127);
   }
   close(fd);
   free(argv);
   if (pid < 0) {
      *err = xasprintf("%s: cannot start: %s", name, strerror(errno));
      return false;
   }
   s->pid = pid;
   if (!announce)
      return true;
   double until = mono_seconds() + timeout;
   int status;
   while (!(s->url = announced(log))) {
      if (!Service_running(s, &status) || mono_seconds() > until) {
         char *tail = Service_log_tail(log, 600);
         *err = xasprintf("%s did not start (%s); its log %s ends:\n%s", name,
                          s->pid ? "no \"listening on\" line in time" : "it exited", log, tail);
         free(tail);
         Service_stop(s, 1);
         return false;
      }
      nap(0.02);
   }
   return true;
}

bool Service_running(Service *s, int *status) {
   if (!s->pid)
      return false;
   int st;
   pid_t r = waitpid(s->pid, &st, WNOHANG);
   if (r == 0)
      return true;
   if (status)
      *status = st;
   s->pid = 0;
   return false;
}

void Service_stop(Service *s, double grace) {
   if (!s->pid)
      return;
   kill(s->pid, SIGTERM);
   double until = mono_seconds() + grace;
   while (Service_running(s, NULL) && mono_seconds() < until)
      nap(0.01);
   if (s->pid) {
      kill(s->pid, SIGKILL);
      waitpid(s->pid, NULL, 0);
      s->pid = 0;
   }
}

void Service_clear(Service *s) {
   Service_stop(s, 5);
   free(s->name);
   free(s->url);
   free(s->log);
   memset(s, 0, sizeof *s);
}
