/* capture.h - the gateway's exchange capture: a writer thread with a bounded queue that
 * stores records in batched transactions, so the data path never waits on the disk. */
#ifndef OFFRAMP_CAPTURE_H
#define OFFRAMP_CAPTURE_H

#include <jansson.h>
#include <stdbool.h>

typedef struct CaptureItem {
   char rid[40];
   char ts[32];
   char *task;            /* NULL: attributed by fingerprint on the writer thread */
   char *model;
   const char *arm;       /* static string */
   int status;
   double latency_ms;
   long long prompt_tokens, completion_tokens;
   int agree;             /* -1 not compared */
   double confidence;     /* < 0 none */
   json_t *record;        /* serialised on the writer thread; never touched again by the loop */
   struct CaptureItem *next;
} CaptureItem;

typedef struct Capture Capture;

/* Opens its own connection to the workspace and starts the writer thread. */
Capture *Capture_start(const char *workspace, long queue_max, char **err);
/* Hands the item over (always). False when the queue was full and the record was dropped. */
bool Capture_push(Capture *c, CaptureItem *item);
void Capture_item_free(CaptureItem *item);

typedef struct {
   long long queued, dropped, committed, failed;
   long depth;
} CaptureStats;

void Capture_stats(Capture *c, CaptureStats *out);
/* Writes everything queued, stops the thread and closes the connection. */
void Capture_stop(Capture *c);

#endif
