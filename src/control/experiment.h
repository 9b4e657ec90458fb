/* experiment.h - training in the workspace: backends, experiments (one fine-tuning job each),
 * following jobs (events and checkpoints stored once each), the task's picked candidate. */
#ifndef OFFRAMP_EXPERIMENT_H
#define OFFRAMP_EXPERIMENT_H

#include <jansson.h>
#include <stdbool.h>

#include "control/ftclient.h"
#include "store/store.h"

/* The seeds' defaults (playbook 002): lr 2e-4, batch 8, epochs 3, LoRA rank 32. */
#define TRAIN_DEFAULT_LR 2e-4
#define TRAIN_DEFAULT_BATCH 8
#define TRAIN_DEFAULT_EPOCHS 3
#define TRAIN_DEFAULT_LORA_RANK 32

bool Backend_add(Store *st, const char *name, const char *kind, const char *url, const char *key_env,
                 const char *accepts, char **err);
/* Refused while an experiment on the backend is not final. */
bool Backend_remove(Store *st, const char *name, char **err);
/* name NULL: the most recently added backend. */
bool Backend_get(Store *st, const char *name, FtBackend *b, char **err);
json_t *Backend_list_json(Store *st);

typedef struct {
   long long id, task_id, dataset_id;   /* dataset_id 0: files given directly */
   char *task, *backend, *job_id, *base_model, *hyperparameters, *training_file, *validation_file;
   char *status, *fine_tuned_model, *metrics, *error, *created_at, *updated_at;
   long long trained_tokens;            /* -1 unknown */
   bool candidate;                      /* the task's picked candidate */
} Experiment;

/* queued, validating_files, running: not final. */
bool Experiment_final(const char *status);

typedef struct {
   const char *task, *backend;          /* backend NULL: the latest */
   long long dataset_id;                /* 0: use train_path */
   const char *train_path, *validation_path;
   FtJobSpec spec;                      /* file ids are filled in by Experiment_start */
} TrainRequest;

/* Resolves the dataset's files when dataset_id is set (table datasets), uploads them, creates
 * the job and records the experiment. *notes says what the backend was not sent. */
bool Experiment_start(Store *st, TrainRequest *r, long timeout_ms, long long *exp_id, char **notes, char **err);

/* The latest dataset of a task (0 when there is none or no datasets table). */
long long Experiment_latest_dataset(Store *st, long long task_id);

/* task NULL: all tasks. active_only: experiments not in a final state. Newest last. */
Experiment *Experiment_list(Store *st, const char *task, bool active_only, int *n);
void Experiment_free_list(Experiment *e, int n);
/* ref: the experiment number or the backend's job id. */
bool Experiment_get(Store *st, const char *ref, Experiment *e, char **err);
void Experiment_clear(Experiment *e);

/* One round of following: reads the job, stores new events and checkpoints (deduplicated by
 * their ids) and the job's status, model, tokens, metrics and error. *new_events counts events
 * stored this round. */
bool Experiment_poll(Store *st, Experiment *e, long timeout_ms, int *new_events, char **err);
bool Experiment_cancel(Store *st, Experiment *e, long timeout_ms, char **err);
/* Makes a succeeded experiment the task's candidate. */
bool Experiment_pick(Store *st, const Experiment *e, char **err);

typedef struct {
   long long row;                       /* order of arrival */
   long long created_at;
   char *level, *type, *message, *data;
} JobEvent;

/* Events of an experiment after row `after_row`, oldest first. */
JobEvent *Experiment_events(Store *st, long long exp_id, long long after_row, int *n);
void Experiment_free_events(JobEvent *ev, int n);

/* Loss history from metrics events, oldest first (NAN where absent). Caller frees. */
int Experiment_losses(Store *st, long long exp_id, double **train, double **valid);

json_t *Experiment_to_json(const Experiment *e);

#endif
