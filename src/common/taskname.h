/* taskname.h - what a task may be called: one rule, read by the data plane (a request's
 * X-Offramp-Task, a client key's task list) and the control plane alike, so it sits at the bottom. */
#ifndef OFFRAMP_TASKNAME_H
#define OFFRAMP_TASKNAME_H

#include <stdbool.h>

/* A name a user can type: 1-64 of [A-Za-z0-9._-] or UTF-8 letters, not starting with '-'
 * or '.'; false with *err naming the name and the fix. */
bool Task_name_valid(const char *name, char **err);

#endif
