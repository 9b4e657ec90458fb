/* demoscript.h - "offramp demo --script": the whole migration of the demo task, headless,
 * printing each phase's figures; the smoke test of the product. */
#ifndef OFFRAMP_DEMOSCRIPT_H
#define OFFRAMP_DEMOSCRIPT_H

#include <stdio.h>

#include "demo/demo.h"
#include "store/store.h"

typedef struct {
   long shadow_requests;      /* replayed in shadow (default 600: the shadow gate needs 500 comparisons) */
   long canary_requests;      /* replayed at a time in a canary step (default 200) */
   long canary_comparisons;   /* verified comparisons a canary step waits for before its analysis (50) */
   long cutover_requests;     /* at 100 % (default 300) */
   double rate;               /* requests per second of the replays (default 200) */
   double canary_rate;        /* ... in the canary steps, which wait for verified answers (default 250) */
   double fallback_bar;       /* accuracy the cutover's confidence threshold must keep (DEMO_FALLBACK_BAR) */
} DemoScriptParams;

void DemoScriptParams_defaults(DemoScriptParams *p);

/* Runs the path on a populated workspace whose services env runs; returns an exit code
 * (0 all phases done, 1 an error, 3 a gate refused). */
int Demo_script(Store *st, DemoEnv *env, const DemoScriptParams *p, FILE *out);

#endif
