/* inventory.h - the ranked inventory: ordering, the table both the CLI and console print,
 * and score overrides. */
#ifndef OFFRAMP_INVENTORY_H
#define OFFRAMP_INVENTORY_H

#include <stddef.h>

#include "control/task.h"
#include "store/store.h"

/* Indices of ts ordered by priority (highest first), then monthly cost, then name. */
int *Inventory_rank(const Task *ts, int n);

/* One line of the inventory table, fitted to width columns. */
void Inventory_header(char *buf, size_t size, int width);
void Inventory_row(const Task *t, int rank, char *buf, size_t size, int width);

/* values[d]: -1 keep, 0 back to the suggestion, 1-5 override. Marks the task as scored. */
bool Inventory_set_scores(Store *st, const char *task, const int values[3], char **err);

#endif
