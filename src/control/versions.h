/* versions.h - the versions of a task's candidate: dataset -> training job -> model -> the
 * route revision that put it in front. The console's operate panel, offramp versions and
 * offramp operate read them from here. */
#ifndef OFFRAMP_VERSIONS_H
#define OFFRAMP_VERSIONS_H

#include <jansson.h>

#include "control/task.h"
#include "store/store.h"

/* The newest limit succeeded experiments, newest first: [{experiment, dataset, job, model,
 * route_revision (the last route_events id naming the model as candidate, or null)}]. */
json_t *Versions_list(Store *st, const Task *t, int limit);

#endif
