/* gwexport.h - GET /admin/export: a task's exchange records as JSON lines, streamed in bounded
 * slices read by a thread of the export's own with its own read connection. The next slice is
 * read only when the client has taken the last one, so an export of any size holds about one
 * slice in memory, and the loop only moves the slices to the socket. Each slice is its own short
 * read transaction: an export holds no snapshot that would keep the WAL from being checkpointed. */
#ifndef OFFRAMP_GWEXPORT_H
#define OFFRAMP_GWEXPORT_H

#include <event2/event.h>
#include "http/httpfront.h"
#include <stdbool.h>

typedef struct GwExport GwExport;

/* Called on the loop once the export has ended (answered whole, failed, or its client left);
 * the callee frees it with GwExport_free. */
typedef void (*GwExportDone)(GwExport *ex, void *arg);

/* Starts answering req with the records of task (NULL: all) with ts >= since (NULL: any), at
 * most limit of them (< 0: all), oldest first; a workspace that cannot be read is answered 500.
 * NULL with *err (and nothing sent) when the thread cannot be started. */
GwExport *GwExport_start(HttpReq *req, struct event_base *base, const char *workspace,
                         const char *task, const char *since, long limit, GwExportDone done, void *arg,
                         char **err);
/* Stops an export still running (at exit, its request already freed by the front end) or frees an
 * ended one. */
void GwExport_free(GwExport *ex);

#endif
