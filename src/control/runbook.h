/* runbook.h - the phase runbooks in share/runbooks and each task's checklist progress. */
#ifndef OFFRAMP_RUNBOOK_H
#define OFFRAMP_RUNBOOK_H

#include <stdbool.h>

#include "common/mdview.h"
#include "store/store.h"

/* The runbooks in phase order: audit, dataset, training, ..., operate. */
extern const char *const Runbook_names[];
extern const int Runbook_count;

/* Where share files live: $OFFRAMP_SHARE, else the build tree beside the binary, else the
 * installed data directory. */
const char *Share_dir(void);

int Runbook_index(const char *name);
/* The runbook called name, or the runbook of the phase called name ("train" -> "training");
 * NULL when it is neither. */
const char *Runbook_name(const char *name);
/* Read and render the runbook; NULL with *err naming the file when it is missing. */
MdDoc *Runbook_load(const char *name, int width, char **err);

/* Mark each task-list line of doc with the task's stored state. */
void Runbook_apply_checks(Store *st, long long task_id, const char *name, MdDoc *doc);
/* Flip one item; returns the new state (0/1) or -1 with *err. */
int Runbook_toggle(Store *st, long long task_id, const char *name, const char *key, char **err);
/* Checked items of a runbook for a task. */
int Runbook_done(Store *st, long long task_id, const char *name);

#endif
