/* capture.h - the gateway's exchange capture: a writer thread with a bounded queue that
 * stores records in batched transactions, so the data path never waits on the disk. The
 * loop hands over the request and answers as the JSON texts it already checked, plus a few
 * scalars; the writer thread splices them into the record text without parsing them into
 * trees (only an unattributed record's request is parsed, for its fingerprint). The writer
 * hands each item back and the loop frees it (in Capture_push): every allocation is freed by
 * the thread that made it, as glibc's malloc takes the owning arena's lock otherwise.
 *
 * Nothing answered is lost without being said: a record is queued as soon as the client has
 * its answer, with the calls still running (the shadow, the noise call) marked pending; their
 * results join it later (Capture_join), in the queue when the record is still there, else as
 * an update of the stored record. A stop or a crash before that leaves them recorded as lost.
 * A workspace that refuses writes (another process holding the write lock, a full disk) is
 * retried with back-off; only a full queue (records or bytes) or a record the workspace
 * rejects loses records, and every loss is counted by reason, logged (one line a second at
 * most) and reported by Capture_health. */
#ifndef OFFRAMP_CAPTURE_H
#define OFFRAMP_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/util.h"
#include "store/exchange.h"

/* Where the loop's own scan of a JSON text found the members the writer reads, so the
 * writer need not scan the text again: offsets into the text, len 0 for a member that is
 * absent. known false: the loop did not scan it (or the scanner declined it), the writer
 * scans. The spans must be exactly what Jsonscan_members and Jsonscan_find give for the
 * text (the last of duplicate keys). */
typedef struct {
   bool known;
   size_t model_at, model_len;
   size_t usage_at, usage_len;       /* responses */
   size_t messages_at, messages_len; /* requests */
} CaptureSpans;

/* One upstream call of the exchange as its record shows it. Strings live in the item. */
typedef struct {
   bool started;
   /* Still running when the record was queued: written as {"arm":…,"error":"pending"} until
    * its result joins the record, {"arm":…,"error":"lost"} if it never does. */
   bool pending;
   const char *arm;          /* static string */
   const char *model;        /* the arm's model, or NULL for the request's */
   long status;
   double latency_ms;
   const char *error;        /* static error name, or NULL */
   double confidence;        /* < 0 none */
   int agree;                /* vs the serving call; -1 not compared (not for the serving call) */
   /* The answer as valid JSON text (the upstream's body, error bodies included, or a compact
    * dump of the completion assembled from a stream), or NULL when there is none; malloc'd,
    * owned by the item. */
   char *response;
   size_t response_len;
   CaptureSpans spans;       /* of response */
   /* A body that is not JSON (an HTML error page), kept as text; malloc'd, owned. */
   char *error_body;
   size_t error_body_len;
   char *error_message;      /* the transport's error message, or NULL; malloc'd, owned */
} CaptureCall;

enum { CAPTURE_SERVING, CAPTURE_SHADOW, CAPTURE_NOISE, CAPTURE_CALLS };

/* An item is a record, or the results of a record's pending calls (an update: rid, the
 * calls that were pending, agree and confidence; the rest unused). */
enum { CAPTURE_RECORD, CAPTURE_UPDATE };

typedef struct CaptureItem {
   int kind;
   char rid[40];
   char ts[32];
   const char *task;          /* NULL: attributed by fingerprint on the writer thread */
   const char *arm;           /* static string */
   int status;                /* the status the client got */
   bool stream;
   bool replay;               /* replayed traffic (offramp replay): marked, kept out of the audit */
   const char *truncated;     /* static reason the answer was cut short (the client left mid-stream), or NULL */
   const char *fallback;      /* static reason name, or NULL */
   int agree;                 /* -1 not compared */
   double confidence;         /* < 0 none */
   /* The time the client waited, when it differs from the serving call's (a fallback waited
    * on the candidate first); < 0 otherwise. */
   double waited_ms;
   /* The client's body as sent, already checked to be one valid JSON object (RFC 8259,
    * UTF-8); malloc'd, owned by the item. */
   char *request;
   size_t request_len;
   CaptureSpans request_spans;
   CaptureCall calls[CAPTURE_CALLS];
   /* The capture's own. */
   struct CaptureItem *next;
   unsigned long long seq;
   double queued_at;          /* mono seconds */
   size_t bytes;
   size_t used, size;
   char blob[];               /* the strings above: one allocation per record */
} CaptureItem;

typedef struct Capture Capture;

/* Where a record with pending calls went, for Capture_join. */
typedef struct {
   unsigned long long seq;    /* 0: nothing to join (not queued, or dropped) */
   CaptureItem *item;
} CaptureTicket;

/* Opens its own connection to the workspace and starts the writer thread. The queue holds at
 * most queue_max records and queue_bytes bytes of them. */
Capture *Capture_start(const char *workspace, long queue_max, long long queue_bytes, ExchangeNewTask new_task,
                       char **err);
/* An item with room for blob_size bytes of strings (each takes its length + 1). */
CaptureItem *Capture_item_new(size_t blob_size);
/* A copy of s[0..n) (NUL-terminated) inside the item's blob; NULL for NULL. */
const char *Capture_item_put(CaptureItem *it, const char *s, size_t n);
/* Hands a record over (always). False when the queue was full and the record was dropped
 * (counted and logged). With t, the record may have pending calls: *t is what Capture_join
 * needs. Frees the items the writer is done with: call it from one thread only. */
bool Capture_push(Capture *c, CaptureItem *item, CaptureTicket *t);
/* The results of the pending calls of t's record: an update item (taken) with the same rid,
 * the calls that were pending (started, not pending) and the final agree and confidence. Call
 * models fall back to the request's: the update does not carry it. Same thread as
 * Capture_push. */
void Capture_join(Capture *c, CaptureTicket *t, CaptureItem *update);

/* Why records were lost. */
enum { CAPTURE_DROP_RECORDS, CAPTURE_DROP_BYTES, CAPTURE_DROP_REJECTED, CAPTURE_DROP_STOPPED, CAPTURE_DROPS };
extern const char *const Capture_drop_names[CAPTURE_DROPS];

typedef struct {
   long long queued;          /* records handed over, dropped ones included */
   long long committed;       /* records in the workspace */
   long long dropped[CAPTURE_DROPS];
   long long retries;         /* batches tried again after the workspace refused them */
   long long joined;          /* pending results that joined their record in the queue */
   long long updated;         /* pending results written as updates of stored records */
   long long lost;            /* records whose pending calls were recorded as lost */
   long depth;                /* items not yet written (updates included) */
   long long bytes;           /* their bytes */
} CaptureStats;

void Capture_stats(Capture *c, CaptureStats *out);
/* True when captures work; false with the reason in *why (appended) while the workspace
 * refuses writes, or for a minute after records were dropped. */
bool Capture_health(Capture *c, Sbuf *why);
/* Writes everything queued (giving up, counted and logged, if the workspace still refuses
 * writes after a grace period), records the calls still pending as lost, stops the thread and
 * closes the connection (from the thread that pushes). */
void Capture_stop(Capture *c);

#endif
