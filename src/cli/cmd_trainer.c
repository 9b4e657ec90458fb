/* cmd_trainer.c - "offramp trainer": run the built-in trainer daemon. */
#include "config.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/util.h"
#include "trainer/trainer.h"

static const char usage[] =
   "usage: offramp trainer [--listen HOST:PORT] [--dir DIR] [--token-file FILE] [--max-upload MB]\n"
   "                       [--max-files N] [--max-storage BYTES] [--epoch-pace MS]\n"
   "\n"
   "Run the built-in trainer: an OpenAI-shaped fine-tuning API that trains distill models\n"
   "(a CPU text classifier for label tasks; for a dataset whose answers are JSON objects, an\n"
   "extractor: a tagger per field copying each value from the input, refused at validation\n"
   "when a field's values are not spans of the input in over 5 % of the examples) and serves\n"
   "them at /v1/chat/completions with logprobs (the extractor's: one per field). Jobs, files\n"
   "and models persist in DIR; on restart, queued jobs run again and a job that was running\n"
   "is marked failed (create it again). Stop it with SIGINT or SIGTERM.\n"
   "\n"
   "options:\n"
   "  --listen HOST:PORT  address to listen on (default 127.0.0.1:8402; port 0 picks a free one,\n"
   "                      announced on stdout)\n"
   "  --dir DIR           state directory (default $XDG_DATA_HOME/offramp/trainer); files in it\n"
   "                      are written owner-only (0600)\n"
   "  --token-file FILE   bearer token every request but /healthz must send ('Authorization:\n"
   "                      Bearer TOKEN'; first line of FILE, at least 16 characters); default\n"
   "                      $OFFRAMP_TRAINER_TOKEN. Without a token the trainer serves anyone who\n"
   "                      can reach it, so it listens on loopback addresses only and refuses\n"
   "                      any other --listen host. Clients: offramp backend add NAME --url URL\n"
   "                      --key-env OFFRAMP_TRAINER_TOKEN\n"
   "  --max-upload MB     largest request body accepted (default 512)\n"
   "  --max-files N       files stored at most, uploads and job results (default 1000); an\n"
   "                      upload past it gets 429 (delete files with DELETE /v1/files/ID)\n"
   "  --max-storage BYTES bytes of files stored at most, with a K, M, G or T suffix (default\n"
   "                      10G); an upload past it gets 429, nothing of it is written\n"
   "  --epoch-pace MS     hold each training epoch at least MS milliseconds, so progress\n"
   "                      can be watched (demos); default 0\n"
   "\n"
   "endpoints: POST /v1/files, GET /v1/files[/ID[/content]], DELETE /v1/files/ID,\n"
   "POST|GET /v1/fine_tuning/jobs, GET /v1/fine_tuning/jobs/ID[/events|/checkpoints],\n"
   "POST /v1/fine_tuning/jobs/ID/cancel,\n"
   "POST /v1/chat/completions, GET /v1/models, GET /healthz.\n";

static char *default_dir(void) {
   const char *xdg = getenv("XDG_DATA_HOME");
   if (xdg && *xdg)
      return xasprintf("%s/offramp/trainer", xdg);
   const char *home = getenv("HOME");
   return xasprintf("%s/.local/share/offramp/trainer", home && *home ? home : ".");
}

/* "10G", "512M", "4096": bytes; false when it is not a positive size. */
static bool parse_bytes(const char *s, long long *out) {
   char *end;
   double v = strtod(s, &end);
   static const char units[] = "KMGT";
   const char *u = *end ? strchr(units, *end & ~0x20) : NULL;
   if (end == s || v <= 0 || (*end && (!u || end[1])))
      return false;
   for (const char *p = units; u && p <= u; p++)
      v *= 1024;
   if (v > 9.0e18)
      return false;
   *out = (long long)v;
   return *out > 0;
}

/* Whether host names this machine only: 127.0.0.0/8, ::1 ([::1]) or localhost. */
static bool loopback_host(const char *host) {
   unsigned char a[16];
   size_t n = strlen(host);
   char *bare = n > 2 && host[0] == '[' && host[n - 1] == ']' ? xstrndup(host + 1, n - 2) : xstrdup(host);
   bool yes = str_eq(bare, "localhost");
   if (inet_pton(AF_INET, bare, a) == 1)
      yes = a[0] == 127;
   else if (inet_pton(AF_INET6, bare, a) == 1)
      yes = IN6_IS_ADDR_LOOPBACK((struct in6_addr *)a);
   free(bare);
   return yes;
}

/* The token from --token-file or $OFFRAMP_TRAINER_TOKEN; NULL with *err NULL when neither. */
static char *trainer_token(const char *file, char **err) {
   *err = NULL;
   if (file)
      return read_token_file(file, err);
   const char *env = getenv("OFFRAMP_TRAINER_TOKEN");
   if (!env || !*env)
      return NULL;
   if (strlen(env) < TOKEN_MIN_CHARS) {
      *err = xasprintf("$OFFRAMP_TRAINER_TOKEN is shorter than %d characters (use a long random string, e.g. "
                       "from 'openssl rand -hex 16')", TOKEN_MIN_CHARS);
      return NULL;
   }
   return xstrdup(env);
}

int cmd_trainer(Cli *cli, int argc, char **argv) {
   if (Cli_help_or_version(argc, argv, usage))
      return EXIT_OK;
   static const struct option opts[] = {
      { "listen", required_argument, NULL, 'l' },
      { "dir", required_argument, NULL, 'd' },
      { "max-upload", required_argument, NULL, 'm' },
      { "epoch-pace", required_argument, NULL, 'p' },
      { "token-file", required_argument, NULL, 't' },
      { "max-files", required_argument, NULL, 'f' },
      { "max-storage", required_argument, NULL, 's' },
      { 0 },
   };
   const char *listen = "127.0.0.1:8402";
   char *dir = NULL;
   const char *token_file = NULL;
   long max_mb = 512, pace = 0, max_files = 1000;
   long long max_storage = 10LL << 30;
   int c;
   while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
      if (c == 'l')
         listen = optarg;
      else if (c == 'd')
         dir = xstrdup(optarg);
      else if (c == 'm')
         max_mb = Cli_long("trainer", "--max-upload", optarg, 1, 16384);
      else if (c == 'p')
         pace = Cli_long("trainer", "--epoch-pace", optarg, 0, 60000);
      else if (c == 't')
         token_file = optarg;
      else if (c == 'f')
         max_files = Cli_long("trainer", "--max-files", optarg, 1, 100000000);
      else if (c == 's') {
         if (!parse_bytes(optarg, &max_storage))
            return Cli_bad_value("trainer", "--max-storage", optarg, "a size in bytes (e.g. 10G, 512M, 1000000)");
      } else
         return Cli_bad_option("trainer", argc, argv);
   }
   if (optind < argc)
      return Cli_usage_error("trainer", "unexpected argument '%s'", argv[optind]);
   const char *colon = strrchr(listen, ':');
   if (!colon || colon == listen)
      return Cli_usage_error("trainer", "--listen '%s' is not HOST:PORT (e.g. 127.0.0.1:8402)", listen);
   long port = Cli_long("trainer", "--listen port", colon + 1, 0, 65535);
   char *host = xstrndup(listen, (size_t)(colon - listen));
   char *err = NULL;
   char *token = trainer_token(token_file, &err);
   if (!token && !err && !loopback_host(host))
      err = xasprintf("--listen %s is not a loopback address and the trainer has no token: anyone who can reach it "
                      "could upload files and run jobs (pass --token-file FILE or set OFFRAMP_TRAINER_TOKEN, or listen "
                      "on 127.0.0.1)", listen);
   if (err) {
      fprintf(stderr, "offramp trainer: %s\n", err);
      free(err);
      free(host);
      free(dir);
      return token_file || getenv("OFFRAMP_TRAINER_TOKEN") ? EXIT_ERROR : EXIT_USAGE;
   }
   if (!dir)
      dir = default_dir();
   TrainerOpts o = { .host = host, .port = (int)port, .dir = dir, .max_upload = (size_t)max_mb << 20,
                   .epoch_pace_ms = (int)pace, .token = token, .max_files = max_files, .max_storage = max_storage };
   bool ok = Trainer_serve(&o, &err);
   if (!ok) {
      fprintf(stderr, "offramp trainer: %s\n", err);
      free(err);
   }
   free(host);
   free(dir);
   free(token);
   return ok ? EXIT_OK : EXIT_ERROR;
}
