/* cli.c - helpers shared by the subcommands. */
#include "config.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "util.h"

Store *Cli_open(Cli *cli, bool create) {
   char *path = Store_default_path(cli->workspace);
   char *err = NULL;
   if (!create && access(path, F_OK) != 0) {
      fprintf(stderr, "offramp: no workspace at %s (add a task with 'offramp task add NAME', or pass -w FILE)\n", path);
      exit(EXIT_ERROR);
   }
   if (access(path, F_OK) == 0 && access(path, W_OK) != 0) {
      fprintf(stderr, "offramp: the workspace %s is read-only (check its permissions, or copy it)\n", path);
      exit(EXIT_ERROR);
   }
   Store *st = Store_open(path, create ? STORE_CREATE : 0, &err);
   if (!st) {
      fprintf(stderr, "offramp: %s\n", err);
      exit(EXIT_ERROR);
   }
   free(path);
   return st;
}

bool Cli_help_or_version(int argc, char **argv, const char *usage) {
   for (int i = 1; i < argc; i++) {
      if (str_eq(argv[i], "--"))
         break;
      if (str_eq(argv[i], "-h") || str_eq(argv[i], "--help")) {
         fputs(usage, stdout);
         return true;
      }
      if (str_eq(argv[i], "--version")) {
         printf("offramp %s %s\n", argv[0], PACKAGE_VERSION);
         return true;
      }
   }
   return false;
}

int Cli_usage_error(const char *cmd, const char *fmt, ...) {
   va_list ap;
   fprintf(stderr, "offramp %s: ", cmd);
   va_start(ap, fmt);
   vfprintf(stderr, fmt, ap);
   va_end(ap);
   fprintf(stderr, "\nTry 'offramp %s --help'.\n", cmd);
   return EXIT_USAGE;
}

bool Cli_json_option(const char *cmd, int argc, char **argv, bool *json) {
   static const struct option opts[] = { { "json", no_argument, NULL, 'j' }, { 0 } };
   int c;
   while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      if (c != 'j') {
         Cli_usage_error(cmd, "unknown option");
         return false;
      }
      *json = true;
   }
   return true;
}

long Cli_long(const char *cmd, const char *option, const char *value, long min, long max) {
   long v;
   if (!parse_long(value, &v) || v < min || v > max) {
      fprintf(stderr, "offramp %s: %s '%s' is not a whole number from %ld to %ld\n", cmd, option, value, min, max);
      exit(EXIT_USAGE);
   }
   return v;
}

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig) {
   (void)sig;
   stop_requested = 1;
}

volatile sig_atomic_t *Cli_catch_stop(bool once) {
   stop_requested = 0;
   struct sigaction sa = { .sa_handler = on_stop, .sa_flags = SA_RESTART | (once ? SA_RESETHAND : 0) };
   sigemptyset(&sa.sa_mask);
   sigaction(SIGINT, &sa, NULL);
   sigaction(SIGTERM, &sa, NULL);
   return &stop_requested;
}

void Cli_release_stop(void) {
   signal(SIGINT, SIG_DFL);
   signal(SIGTERM, SIG_DFL);
}

void Cli_print_json(json_t *v) {
   char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
   puts(s);
   free(s);
   json_decref(v);
}
