/* deploy.h - the owned model: versions (a trainer's artifact and its lineage) and their
 * deployments on model servers, driven over each server's own HTTP API by thin adapters
 * (vLLM, Ollama, llama.cpp server), with rollback and the readiness smoke check that must
 * pass before shadow. */
#ifndef OFFRAMP_DEPLOY_H
#define OFFRAMP_DEPLOY_H

#include <jansson.h>
#include <stdbool.h>

#include "control/eval.h"
#include "control/phaselog.h"
#include "store/store.h"

/* A trainer's result to record as the task's next version. */
typedef struct {
   const char *task;
   const char *artifact;      /* adapter directory, GGUF file, or an http(s) URL */
   const char *base_model;
   const char *job;           /* experiment number or job id (offramp jobs), or NULL */
   long long dataset_id;      /* 0: the job's dataset, else the task's latest */
   long rank;                 /* LoRA rank, 0 unknown */
   const char *sha256;        /* required for a URL (it is not downloaded); checked for a path */
   long long size;            /* bytes, -1 unknown (a URL's size when not given) */
} VersionSpec;

/* Records the version (digest and size computed from the files of a path); *version gets its
 * number (1, 2, ... per task). Nothing is written on failure. */
bool Deploy_register(Store *st, const VersionSpec *v, long *version, char **err);

typedef struct {
   const char *task;
   const char *server;        /* the server's base URL, e.g. http://gpu-box:8000 */
   const char *kind;          /* vllm | ollama | llamacpp */
   long version;              /* 0: the latest */
   const char *served_path;   /* the artifact's path as the server sees it (default: the artifact) */
   const char *base;          /* Ollama: the base model's name there (default: the version's base model) */
   double scale;              /* llama.cpp: the adapter's scale (1) */
   const char *key_env;       /* environment variable with the server's API key, or NULL */
   const char *reason;
   long timeout_ms;           /* each HTTP call */
} DeployRequest;

/* Checks the server's health, loads the version's adapter (skipped when the server already
 * serves it), checks the server now lists it and records the deployment as the task's active
 * one; *id gets the deployment's id, *model the name to ask for on /v1/chat/completions. */
bool Deploy_run(Store *st, const DeployRequest *r, long long *id, char **model, char **err);

/* Makes the task's previous version active again on its server, loading it again first when
 * the server dropped it (*reloaded says so). The current deployment is marked rolled-back. */
bool Deploy_rollback(Store *st, const char *task, const char *reason, long timeout_ms, long long *id,
                     bool *reloaded, char **err);

/* Versions and deployments, newest first; task NULL: all tasks. */
json_t *Deploy_list_json(Store *st, const char *task);

/* The readiness smoke check: SMOKE_ROWS held-out rows of the version's dataset (its test set)
 * sent to the active deployment exactly as an evaluation sends them, each answer checked for
 * the task's format. The result is stored on the deployment; *summary describes it. */
#define SMOKE_ROWS 10
typedef struct {
   int rows, answered, in_format, correct;
   bool passed;
} SmokeResult;
bool Deploy_smoke(Store *st, const char *task, long timeout_ms, SmokeResult *res, char **summary, char **err);

/* Load on the active deployment: `requests` streamed chat requests (the test set's rows in
 * turn, asked as an evaluation asks them) with `concurrency` in flight at once. Per request:
 * the time to the first content token (TTFT), the whole latency and the decode speed (completion
 * tokens, from the usage the server reports or else one per content event, over the time after
 * the first token). The figures are stored on the deployment (shown by deploy list). */
typedef struct {
   int concurrency, requests, ok, errors;
   double ttft_p50_ms, ttft_p99_ms, latency_p50_ms, latency_p99_ms;
   double tokens_per_s;        /* median per-request decode speed */
   double throughput_tokens_s; /* completion tokens of all requests over the wall time */
   double wall_s;
} LoadResult;
/* With frontier (else NULL), the frontier is then measured the same way (the same rows, number
 * of requests and concurrency) into *fres: offramp eval --load. The figures are stored on the
 * deployment: {at, version, url, model, concurrency, requests, ok, errors, ttft_p50_ms, ...,
 * frontier: {the same} | null}. */
bool Deploy_load(Store *st, const char *task, int concurrency, int requests, long timeout_ms,
                 const EvalEndpoint *frontier, LoadResult *res, LoadResult *fres, char **err);

/* The figures as text with units and counts: one column, or the deployed model's beside the
 * frontier's when f is given. Caller frees. */
char *Deploy_load_text(const char *model, const LoadResult *r, const char *frontier, const LoadResult *f);

/* The task's newest load figures: {deployment, kind, server, status, load}, NULL when none. */
json_t *Deploy_load_figures(Store *st, long long task_id);

/* The gate before shadow, for the phase gate's check:
 *   DEPLOY_GATE_NONE   the task has no model version (its candidate is not an owned model
 *                      deployed by offramp: the gate does not apply);
 *   DEPLOY_GATE_READY  its active deployment passed the smoke check after it was deployed;
 *   DEPLOY_GATE_WAIT   versions exist but nothing is deployed, or the smoke check has not
 *                      run or failed: *why says which and the command that fixes it.
 * Reads the workspace only (no network). *why is set in every case. */
typedef enum { DEPLOY_GATE_NONE, DEPLOY_GATE_READY, DEPLOY_GATE_WAIT } DeployGate;
DeployGate Deploy_gate(Store *st, long long task_id, char **why);

/* The same as one check of a phase gate ("deployment smoke check": pass when ready, fail while
 * waiting), for the evaluate -> shadow gate; false (c untouched) when the gate does not apply. */
bool Deploy_gate_check(Store *st, long long task_id, GateCheck *c);

#endif
