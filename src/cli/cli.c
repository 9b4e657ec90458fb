/* cli.c - helpers shared by the subcommands. */
#include "config.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/util.h"

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
         Cli_bad_option(cmd, argc, argv);
         return false;
      }
      *json = true;
   }
   return true;
}

int Cli_bad_option(const char *cmd, int argc, char **argv) {
   /* opterr is 0 (main): getopt said nothing, this is the one message. glibc leaves optopt 0
    * for an unknown long option and sets it to the option's value when its argument is
    * missing; the element it stopped at is argv[optind - 1]. */
   const char *arg = optind >= 1 && optind - 1 < argc ? argv[optind - 1] : "";
   if (str_startswith(arg, "--")) {
      int len = (int)strcspn(arg, "=");
      if (optopt)
         return Cli_usage_error(cmd, "%.*s needs a value", len, arg);
      return Cli_usage_error(cmd, "unknown option '%.*s'", len, arg);
   }
   if (optopt > 32 && optopt < 127)
      return Cli_usage_error(cmd, "-%c is not an option of this command, or it needs a value", optopt);
   return Cli_usage_error(cmd, "unknown option '%s'", arg);
}

int Cli_bad_value(const char *cmd, const char *option, const char *value, const char *fmt, ...) {
   va_list ap;
   fprintf(stderr, "offramp %s: %s '%s' is not ", cmd, option, value);
   va_start(ap, fmt);
   vfprintf(stderr, fmt, ap);
   va_end(ap);
   fprintf(stderr, "\nTry 'offramp %s --help'.\n", cmd);
   return EXIT_USAGE;
}

long Cli_long(const char *cmd, const char *option, const char *value, long min, long max) {
   long v;
   if (!parse_long(value, &v) || v < min || v > max)
      exit(Cli_bad_value(cmd, option, value, "a whole number from %ld to %ld", min, max));
   return v;
}

double Cli_double(const char *cmd, const char *option, const char *value, double min, double max, const char *what) {
   double v;
   if (!parse_double(value, &v) || v < min || v > max)
      exit(Cli_bad_value(cmd, option, value, "%s from %g to %g", what ? what : "a number", min, max));
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
