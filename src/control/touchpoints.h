/* touchpoints.h - discovered touchpoints: untagged calls grouped by prompt-template
 * fingerprint, and naming one (a new task) or merging it into an existing task. */
#ifndef OFFRAMP_TOUCHPOINTS_H
#define OFFRAMP_TOUCHPOINTS_H

#include <jansson.h>
#include <stdbool.h>

#include "store/store.h"

typedef struct {
   char *fingerprint;
   char *skeleton;
   char **samples;
   int nsamples;
   long long calls;
   char *first_seen;
} Touchpoint;

/* Touchpoints not yet attributed to a task, most calls first. */
Touchpoint *Touchpoints_list(Store *st, int *n);
void Touchpoints_free(Touchpoint *tp, int n);
json_t *Touchpoint_to_json(const Touchpoint *tp);

/* Attribute the touchpoint fp (or a unique prefix of it, 6+ characters) to task: a new
 * task when create is set, else an existing one. Its logged calls, their audit figures
 * and every later call with the same fingerprint go to the task. Returns the calls moved,
 * -1 with *err. */
long long Touchpoints_assign(Store *st, const char *fp, const char *task, bool create, char **err);

#endif
