/* prices.h - the price table: share/prices.json (dated, sourced figures) with the
 * workspace's own overrides on top, and model-name matching for dated snapshots. */
#ifndef OFFRAMP_PRICES_H
#define OFFRAMP_PRICES_H

#include <stdbool.h>

#include "store/store.h"

typedef struct {
   char *model;
   double input, output;   /* USD per 1M tokens */
   char *source;           /* "as published by ..., <month year>" or "workspace override" */
   bool override;
} Price;

typedef struct {
   Price *p;
   int n;
} Prices;

/* The shipped table plus st's overrides (st may be NULL); NULL with *err when the shipped
 * table is unreadable. */
Prices *Prices_load(Store *st, char **err);
void Prices_free(Prices *ps);

/* The price for a model name as APIs report it: exact, else with its provider prefix
 * ("openai/"), date or version suffix ("-2024-07-18", "-20241022", "-0613", "@001",
 * "-latest") removed; NULL when unpriced. */
const Price *Prices_match(const Prices *ps, const char *model);
/* USD for one call. */
double Price_cost(const Price *p, long long in_tokens, long long out_tokens);

/* Workspace overrides. */
bool Prices_set(Store *st, const char *model, double input, double output, char **err);
bool Prices_remove(Store *st, const char *model, char **err);

#endif
