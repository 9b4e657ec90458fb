/* demo.h - the demo workspace: the touchpoints of seed 001's audit table. */
#ifndef OFFRAMP_DEMO_H
#define OFFRAMP_DEMO_H

#include <stdbool.h>

#include "store.h"

/* Where the demo workspace lives unless -w is given: beside the user's, never it. */
char *Demo_default_path(void);
/* Add the demo tasks to an empty workspace; does nothing when tasks exist. */
bool Demo_seed(Store *st, char **err);

#endif
