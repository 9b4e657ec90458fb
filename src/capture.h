/* capture.h - the gateway's exchange capture: a writer thread with a bounded queue that
 * stores records in batched transactions, so the data path never waits on the disk. The
 * loop hands over the request and answers as the JSON texts it already checked, plus a few
 * scalars; the writer thread splices them into the record text without parsing them into
 * trees (only an unattributed record's request is parsed, for its fingerprint). The writer
 * hands each item back and the loop frees it (in Capture_push): every allocation is freed by
 * the thread that made it, as glibc's malloc takes the owning arena's lock otherwise. */
#ifndef OFFRAMP_CAPTURE_H
#define OFFRAMP_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>

/* One upstream call of the exchange as its record shows it. Strings live in the item. */
typedef struct {
   bool started;
   const char *arm;          /* static string */
   const char *model;        /* the arm's model, or NULL for the request's */
   long status;
   double latency_ms;
   const char *error;        /* static error name, or NULL */
   double confidence;        /* < 0 none */
   int agree;                /* vs the serving call; -1 not compared (not for the serving call) */
   /* The answer as valid JSON text (the upstream's body, or a compact dump of the completion
    * assembled from a stream), or NULL when there is none; malloc'd, owned by the item. */
   char *response;
   size_t response_len;
} CaptureCall;

enum { CAPTURE_SERVING, CAPTURE_SHADOW, CAPTURE_NOISE, CAPTURE_CALLS };

typedef struct CaptureItem {
   char rid[40];
   char ts[32];
   const char *task;          /* NULL: attributed by fingerprint on the writer thread */
   const char *arm;           /* static string */
   int status;                /* the status the client got */
   bool stream;
   bool truncated;            /* the client left before its answer was complete */
   const char *fallback;      /* static reason name, or NULL */
   int agree;                 /* -1 not compared */
   double confidence;         /* < 0 none */
   /* The client's body as sent, already checked to be one valid JSON object (RFC 8259,
    * UTF-8); malloc'd, owned by the item. */
   char *request;
   size_t request_len;
   CaptureCall calls[CAPTURE_CALLS];
   struct CaptureItem *next;
   size_t used, size;
   char blob[];               /* the strings above: one allocation per record */
} CaptureItem;

typedef struct Capture Capture;

/* Opens its own connection to the workspace and starts the writer thread. */
Capture *Capture_start(const char *workspace, long queue_max, char **err);
/* An item with room for blob_size bytes of strings (each takes its length + 1). */
CaptureItem *Capture_item_new(size_t blob_size);
/* A copy of s[0..n) (NUL-terminated) inside the item's blob; NULL for NULL. */
const char *Capture_item_put(CaptureItem *it, const char *s, size_t n);
/* Hands the item over (always). False when the queue was full and the record was dropped.
 * Frees the items the writer is done with: call it from one thread only. */
bool Capture_push(Capture *c, CaptureItem *item);

typedef struct {
   long long queued, dropped, committed, failed;
   long depth;
} CaptureStats;

void Capture_stats(Capture *c, CaptureStats *out);
/* Writes everything queued, stops the thread and closes the connection (from the thread
 * that pushes). */
void Capture_stop(Capture *c);

#endif
