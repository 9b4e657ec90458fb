/* ftclient.h - talking to fine-tuning backends over HTTP. A backend kind is a small table of
 * operations; every kind returns OpenAI-shaped objects (fine_tuning.job, its events and
 * checkpoints), so callers never depend on a service's own wire format. Kinds: openai-ft
 * (OpenAI and everything that speaks its fine-tuning API, including offramp trainer). */
#ifndef OFFRAMP_FTCLIENT_H
#define OFFRAMP_FTCLIENT_H

#include <jansson.h>
#include <stdbool.h>

typedef struct FtKind FtKind;

typedef struct {
   char *name;
   const FtKind *kind;
   char *base_url;     /* ".../v1" */
   char *key_env;      /* environment variable holding the API key, "" for none */
   char *accepts;      /* extra hyperparameters the service takes: "learning_rate,lora_rank" */
   long timeout_ms;    /* bound on each HTTP call (the caller sets it) */
} FtBackend;

/* What to train; the kind decides how (and whether) each field is sent. */
typedef struct {
   const char *training_file, *validation_file;   /* file ids returned by upload */
   const char *base_model, *suffix;
   long epochs, batch, lora_rank;
   double lr;
   bool has_seed;
   long long seed;
} FtJobSpec;

struct FtKind {
   const char *name;
   const char *summary;
   /* Uploads a JSONL file for fine-tuning; returns its file id. */
   char *(*upload)(const FtBackend *b, const char *path, char **err);
   /* Creates a job; returns the job object. *sent gets the hyperparameters actually sent and
    * *notes what was left out (both may be empty; caller frees). */
   json_t *(*create_job)(const FtBackend *b, const FtJobSpec *spec, json_t **sent, char **notes, char **err);
   json_t *(*get_job)(const FtBackend *b, const char *job_id, char **err);
   json_t *(*cancel_job)(const FtBackend *b, const char *job_id, char **err);
   /* One page of events, newest first: {"data":[...], "has_more":bool}; after is a cursor. */
   json_t *(*events)(const FtBackend *b, const char *job_id, const char *after, int limit, char **err);
   json_t *(*checkpoints)(const FtBackend *b, const char *job_id, char **err);
};

extern const FtKind *const FtKinds[];
extern const int FtKinds_count;

/* NULL when no kind has this name. */
const FtKind *FtKind_find(const char *name);

/* Whether a backend takes an extra hyperparameter (listed in accepts). */
bool FtBackend_accepts(const FtBackend *b, const char *param);

void FtBackend_clear(FtBackend *b);

#endif
