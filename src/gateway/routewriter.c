/* routewriter.c - the route save thread: a queue under a mutex in, a list and a pipe byte out
 * (event_active from another thread needs libevent's locking, which the gateway's base does
 * not enable). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "gateway/routewriter.h"
#include "store/store.h"

struct RouteWriter {
   char *workspace;
   const RouteGates *gates;
   Store *st;                     /* the thread's: opening may wait on a lock too */
   pthread_t thread;
   bool started;
   pthread_mutex_t lock;
   pthread_cond_t wake;
   RouteSave *todo, *todo_tail;   /* waiting for the thread */
   RouteSave *done, *done_tail;   /* finished, waiting for the loop */
   bool stop;
   int pipe[2];
   struct event *ev;
   RouteWriterDone cb;
   void *cb_arg;
};

void RouteVerdict_clear(RouteVerdict *v) {
   free(v->refusal);
   free(v->unmet);
   json_decref(v->missing);
   memset(v, 0, sizeof *v);
}

void RouteSave_free(RouteSave *s) {
   if (!s)
      return;
   Route_unref(s->route);
   free(s->actor);
   free(s->reason);
   free(s->err);
   RouteVerdict_clear(&s->verdict);
   free(s);
}

static void list_append(RouteSave **head, RouteSave **tail, RouteSave *s) {
   s->next = NULL;
   if (*tail)
      (*tail)->next = s;
   else
      *head = s;
   *tail = s;
}

static void save(RouteWriter *w, RouteSave *s) {
   if (!w->st && !(w->st = Store_open(w->workspace, 0, &s->err)))
      return;
   s->ok = s->job ? s->job(w->st, s, &s->err)
                  : w->gates->change(w->st, s->route, s->kind, s->actor, s->reason, s->force, &s->verdict, &s->err);
   if (!s->ok && !s->verdict.refused) {
      /* BEGIN IMMEDIATE gives up with SQLITE_BUSY once the busy timeout has passed. */
      s->busy = (sqlite3_extended_errcode(w->st->db) & 0xff) == SQLITE_BUSY;
   }
}

static void *run(void *arg) {
   RouteWriter *w = arg;
   pthread_mutex_lock(&w->lock);
   for (;;) {
      while (!w->todo && !w->stop)
         pthread_cond_wait(&w->wake, &w->lock);
      if (w->stop)
         break;
      RouteSave *s = w->todo;
      w->todo = s->next;
      if (!w->todo)
         w->todo_tail = NULL;
      pthread_mutex_unlock(&w->lock);
      save(w, s);
      pthread_mutex_lock(&w->lock);
      list_append(&w->done, &w->done_tail, s);
      /* A full pipe already holds a wake-up: the loop takes the whole list at once. */
      ssize_t n = write(w->pipe[1], "", 1);
      (void)n;
   }
   pthread_mutex_unlock(&w->lock);
   return NULL;
}

static void on_wake(evutil_socket_t fd, short what, void *arg) {
   RouteWriter *w = arg;
   char buf[64];
   while (read(fd, buf, sizeof buf) > 0)
      continue;
   pthread_mutex_lock(&w->lock);
   RouteSave *list = w->done;
   w->done = w->done_tail = NULL;
   pthread_mutex_unlock(&w->lock);
   while (list) {
      RouteSave *next = list->next;
      if (list->done)
         list->done(list, list->arg);
      else
         w->cb(list, w->cb_arg);
      list = next;
   }
}

RouteWriter *RouteWriter_start(const char *workspace, const RouteGates *gates, struct event_base *base,
                               RouteWriterDone done, void *arg, char **err) {
   RouteWriter *w = xcalloc(1, sizeof *w);
   w->workspace = xstrdup(workspace);
   w->gates = gates;
   w->cb = done;
   w->cb_arg = arg;
   if (pipe2(w->pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
      *err = xasprintf("cannot make the route writer's pipe: %s", strerror(errno));
      free(w->workspace);
      free(w);
      return NULL;
   }
   pthread_mutex_init(&w->lock, NULL);
   pthread_cond_init(&w->wake, NULL);
   w->ev = event_new(base, w->pipe[0], EV_READ | EV_PERSIST, on_wake, w);
   event_add(w->ev, NULL);
   int rc = pthread_create(&w->thread, NULL, run, w);
   w->started = rc == 0;
   if (rc != 0) {
      *err = xasprintf("cannot start the route writer thread: %s", strerror(rc));
      RouteWriter_stop(w);
      return NULL;
   }
   return w;
}

void RouteWriter_submit(RouteWriter *w, RouteSave *s) {
   pthread_mutex_lock(&w->lock);
   list_append(&w->todo, &w->todo_tail, s);
   pthread_cond_signal(&w->wake);
   pthread_mutex_unlock(&w->lock);
}

static void list_free(RouteSave *s) {
   while (s) {
      RouteSave *next = s->next;
      RouteSave_free(s);
      s = next;
   }
}

void RouteWriter_stop(RouteWriter *w) {
   if (!w)
      return;
   pthread_mutex_lock(&w->lock);
   w->stop = true;
   pthread_cond_signal(&w->wake);
   pthread_mutex_unlock(&w->lock);
   if (w->started)
      pthread_join(w->thread, NULL);
   list_free(w->todo);
   list_free(w->done);
   event_free(w->ev);
   close(w->pipe[0]);
   close(w->pipe[1]);
   pthread_mutex_destroy(&w->lock);
   pthread_cond_destroy(&w->wake);
   Store_close(w->st);
   free(w->workspace);
   free(w);
}
