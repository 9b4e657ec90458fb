/* runner.h - self-hosted LoRA training through a command template: an axolotl config written
 * from a dataset and the playbook's defaults, the user's command run locally (or over SSH: the
 * template is the user's), progress read from the trainer's log, and the adapter it leaves
 * recorded as an experiment and as the task's next model version (offramp deploy). */
#ifndef OFFRAMP_RUNNER_H
#define OFFRAMP_RUNNER_H

#include <stdbool.h>

#include "store/store.h"

/* The placeholders a template may use, each replaced by the shell-quoted value:
 *   {dir}        the job directory (the command runs in it): config and data, self-contained
 *   {config}     {dir}/axolotl.yaml
 *   {output}     {dir}/adapter, where the trainer must leave the adapter (adapter_config.json)
 *   {train} {test}  the data files in {dir}
 *   {base_model} the base model
 * Checks a template: not empty, braces closed, only those names, {config} or {dir} used (else
 * the command cannot find the job). false with *err naming the problem and the fix. */
bool Runner_check_template(const char *tmpl, char **err);

typedef struct {
   const char *task;
   const char *tmpl;
   const char *base_model;
   long long dataset_id;   /* 0: the task's latest */
   long epochs, batch, lora_rank;
   double lr;
   long seed;
   bool quiet;             /* no progress lines on stderr */
} RunnerRequest;

typedef struct {
   long long experiment;
   long version;           /* the model version recorded, 0 when the run failed */
   long steps, total_steps;
   double last_loss, last_eval_loss;   /* NAN when none */
   int exit_status;        /* the command's */
   char *dir;              /* the job directory */
} RunnerResult;

/* Writes the job directory and config, records the experiment (backend "runner", status running),
 * runs the command to its end, then marks the experiment succeeded or failed and registers the
 * adapter as a model version. false with *err on a bad request or a failed run (the experiment
 * is then recorded as failed with the reason and the log's last lines). */
bool Runner_run(Store *st, const RunnerRequest *r, RunnerResult *res, char **err);
void RunnerResult_clear(RunnerResult *res);

/* One line of a trainer's log (HF Trainer / axolotl): a dict of metrics, {'loss': 1.23,
 * 'learning_rate': 0.0002, 'epoch': 0.5} or {'eval_loss': ...}, and/or a progress counter
 * "12/300". Fields not on the line are left as they were; returns true when it had any. */
typedef struct {
   long step, total;
   double loss, eval_loss, lr, epoch;
   bool has_loss, has_eval_loss, has_step;
} RunnerProgress;
bool Runner_parse_line(const char *line, RunnerProgress *p);

#endif
