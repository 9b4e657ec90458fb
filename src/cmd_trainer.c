/* cmd_trainer.c - "offramp trainer": run the built-in trainer daemon. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "trainer.h"
#include "util.h"

static const char usage[] =
   "usage: offramp trainer [--listen HOST:PORT] [--dir DIR] [--max-upload MB] [--epoch-pace MS]\n"
   "\n"
   "Run the built-in trainer: an OpenAI-shaped fine-tuning API that trains distill models\n"
   "(a CPU text classifier for label tasks) and serves them at /v1/chat/completions with\n"
   "logprobs. Jobs, files and models persist in DIR; on restart, queued jobs run again and a\n"
   "job that was running is marked failed (create it again). Stop it with SIGINT or SIGTERM.\n"
   "\n"
   "options:\n"
   "  --listen HOST:PORT  address to listen on (default 127.0.0.1:8402; port 0 picks a free one,\n"
   "                      announced on stdout)\n"
   "  --dir DIR           state directory (default $XDG_DATA_HOME/offramp/trainer)\n"
   "  --max-upload MB     largest request body accepted (default 512)\n"
   "  --epoch-pace MS     hold each training epoch at least MS milliseconds, so progress\n"
   "                      can be watched (demos); default 0\n"
   "\n"
   "endpoints: POST /v1/files, GET /v1/files[/ID[/content]], POST|GET /v1/fine_tuning/jobs,\n"
   "GET /v1/fine_tuning/jobs/ID[/events|/checkpoints], POST /v1/fine_tuning/jobs/ID/cancel,\n"
   "POST /v1/chat/completions, GET /v1/models, GET /healthz.\n";

static char *default_dir(void) {
   const char *xdg = getenv("XDG_DATA_HOME");
   if (xdg && *xdg)
      return xasprintf("%s/offramp/trainer", xdg);
   const char *home = getenv("HOME");
   return xasprintf("%s/.local/share/offramp/trainer", home && *home ? home : ".");
}

int cmd_trainer(Cli *cli, int argc, char **argv) {
   if (Cli_help_or_version(argc, argv, usage))
      return EXIT_OK;
   static const struct option opts[] = {
      { "listen", required_argument, NULL, 'l' },
      { "dir", required_argument, NULL, 'd' },
      { "max-upload", required_argument, NULL, 'm' },
      { "epoch-pace", required_argument, NULL, 'p' },
      { 0 },
   };
   const char *listen = "127.0.0.1:8402";
   char *dir = NULL;
   long max_mb = 512, pace = 0;
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
      else
         return Cli_usage_error("trainer", "unknown option");
   }
   if (optind < argc)
      return Cli_usage_error("trainer", "unexpected argument '%s'", argv[optind]);
   const char *colon = strrchr(listen, ':');
   if (!colon || colon == listen)
      return Cli_usage_error("trainer", "--listen '%s' is not HOST:PORT (e.g. 127.0.0.1:8402)", listen);
   long port = Cli_long("trainer", "--listen port", colon + 1, 0, 65535);
   char *host = xstrndup(listen, (size_t)(colon - listen));
   if (!dir)
      dir = default_dir();
   TrainerOpts o = { .host = host, .port = (int)port, .dir = dir, .max_upload = (size_t)max_mb << 20,
                   .epoch_pace_ms = (int)pace };
   char *err = NULL;
   bool ok = Trainer_serve(&o, &err);
   if (!ok) {
      fprintf(stderr, "offramp trainer: %s\n", err);
      free(err);
   }
   free(host);
   free(dir);
   return ok ? EXIT_OK : EXIT_ERROR;
}
