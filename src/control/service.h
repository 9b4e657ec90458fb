/* service.h - offramp's own daemons (gateway, trainer, replay server, a replay) run as child
 * processes on loopback: started from this binary, their announced URL read back, stopped and
 * reaped on the way out. A child also gets SIGTERM if its parent dies, so none is orphaned. */
#ifndef OFFRAMP_SERVICE_H
#define OFFRAMP_SERVICE_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct {
   char *name;   /* "gateway", ... */
   pid_t pid;    /* 0 when not running */
   char *url;    /* what it announced ("listening on URL"), or NULL */
   char *log;    /* its stdout and stderr */
} Service;

/* Runs "offramp ARGS..." (args ends with NULL) with output to log. With announce, waits up to
 * timeout seconds for the "listening on URL" line; false with *err (and the log's tail) when
 * the child exits or stays silent. */
bool Service_start(Service *s, const char *name, const char *const *args, const char *log, bool announce,
                   double timeout, char **err);
/* Whether it still runs; reaps it when it has exited (exit status in *status when not NULL). */
bool Service_running(Service *s, int *status);
/* SIGTERM, up to grace seconds to exit, then SIGKILL; always reaps. */
void Service_stop(Service *s, double grace);
void Service_clear(Service *s);

/* The tail of a file (at most max bytes), for error messages; caller frees. */
char *Service_log_tail(const char *path, size_t max);

#endif
