/* trainer.h - the built-in trainer: an OpenAI-shaped fine-tuning API (files, jobs, events,
 * checkpoints, cancel) over HTTP that trains distill models in a worker thread, persists jobs,
 * files and models in a directory, and serves the models at /v1/chat/completions.
 * Folder rule, src/trainer/: the built-in trainer daemon; includes common/ and http/ only.
 */
#ifndef OFFRAMP_TRAINER_H
#define OFFRAMP_TRAINER_H

#include <stdbool.h>
#include <stddef.h>

/* The base model name jobs must ask for. */
#define TRAINER_BASE_MODEL "distill"

typedef struct {
   const char *host;        /* address to listen on (127.0.0.1) */
   int port;                /* 0 picks a free port; the chosen one is announced on stdout */
   const char *dir;         /* state directory: files/, jobs/, models/ */
   size_t max_upload;       /* largest accepted request body, bytes */
   int epoch_pace_ms;       /* hold each epoch at least this long (0: as fast as it trains) */
   const char *token;       /* bearer token every request but /healthz must carry; NULL: none */
   long max_files;          /* upload quota: files stored (uploads and job results) ... */
   long long max_storage;   /* ... and their total bytes; an upload past either is refused */
} TrainerOpts;

/*
 * Serves until SIGINT or SIGTERM. On start, jobs found in dir are reloaded: jobs that had not
 * started training are queued again; a job that was running when the trainer stopped is marked
 * failed (code "trainer_restarted": create it again, training takes seconds); models of
 * succeeded jobs are loaded and validated once and kept in memory.
 * Prints "offramp trainer: listening on http://HOST:PORT/v1" on stdout once it accepts
 * connections. Without a token the caller must bind a loopback address (cmd_trainer refuses
 * others). Returns false with *err when it cannot start.
 */
bool Trainer_serve(const TrainerOpts *o, char **err);

#endif
