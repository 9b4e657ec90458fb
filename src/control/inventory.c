/* inventory.c - ranking tasks by priority and laying out the inventory table. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "control/inventory.h"
#include "control/phaselog.h"
#include "control/score.h"

typedef struct {
   int idx;
   double priority;
   const Task *t;
} Ranked;

static int cmp_ranked(const void *a, const void *b) {
   const Ranked *x = a, *y = b;
   if (x->priority != y->priority)
      return x->priority < y->priority ? 1 : -1;
   if (x->t->monthly_cost != y->t->monthly_cost)
      return x->t->monthly_cost < y->t->monthly_cost ? 1 : -1;
   return strcmp(x->t->name, y->t->name);
}

int *Inventory_rank(const Task *ts, int n) {
   Ranked *r = xcalloc(n, sizeof *r);
   for (int i = 0; i < n; i++) {
      Score sc;
      Score_compute(&ts[i], &sc);
      /* Tasks that stay on the API sink below every candidate. */
      r[i] = (Ranked){ i, sc.priority - (str_eq(ts[i].phase, "stay") ? 1000 : 0), &ts[i] };
   }
   qsort(r, n, sizeof *r, cmp_ranked);
   int *order = xcalloc(n, sizeof *order);
   for (int i = 0; i < n; i++)
      order[i] = r[i].idx;
   free(r);
   return order;
}

/* Columns around the name: rank, volume, cost, S I C, priority, phase, and a verdict of
 * at least VERDICT_COLS; the name takes what the width leaves. */
#define COLS_FIXED 42
#define VERDICT_COLS 15

static int name_width(int width) {
   int w = width - COLS_FIXED - VERDICT_COLS;
   return w < 12 ? 12 : w > 40 ? 40 : w;
}

void Inventory_header(char *buf, size_t size, int width) {
   snprintf(buf, size, "%-2s %-*s %8s %7s %5s %5s %-8s %s", "#", name_width(width), "TASK", "CALLS/MO",
            "COST/MO", "S I C", "PRIO", "PHASE", "VERDICT");
}

void Inventory_row(const Task *t, int rank, char *buf, size_t size, int width) {
   char vol[32], cost[32], verdict[64];
   Score sc;
   Score_compute(t, &sc);
   Phase ph = PHASE_AUDIT;
   Phase_parse(t->phase, &ph);
   int nw = name_width(width);
   /* Truncate by bytes on a UTF-8 boundary; the console re-fits by display width. */
   char name[128];
   snprintf(name, sizeof name, "%s", t->name);
   if ((int)strlen(name) > nw) {
      int cut = nw - 1;
      while (cut > 0 && ((unsigned char)name[cut] & 0xC0) == 0x80)
         cut--;
      strcpy(name + cut, "~");
   }
   if (sc.stay)
      snprintf(verdict, sizeof verdict, "stay:%s%s", sc.codes[0], sc.nreasons > 1 ? "+" : "");
   else
      snprintf(verdict, sizeof verdict, "migrate");
   snprintf(buf, size, "%-2d %-*s %8s %7s %d %d %d %5.1f %-8s %s", rank, nw, name,
            fmt_count(vol, sizeof vol, t->monthly_volume), fmt_money(cost, sizeof cost, t->monthly_cost, 0),
            sc.value[DIM_SUITABILITY], sc.value[DIM_IMPACT], sc.value[DIM_COMPLEXITY], sc.priority,
            ph == PHASE_STAY ? "on API" : Phase_title(ph), verdict);
}

bool Inventory_set_scores(Store *st, const char *task, const int values[3], char **err) {
   static const char *const cols[3] = { "suitability", "impact", "complexity" };
   if (!Store_begin(st, err))
      return false;
   char ts[32];
   now_iso8601(ts);
   sqlite3_stmt *s = Store_prepare(st, "UPDATE tasks SET scored_at = ?, updated_at = ? WHERE name = ?");
   sqlite3_bind_text(s, 1, ts, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 2, ts, -1, SQLITE_STATIC);
   sqlite3_bind_text(s, 3, task, -1, SQLITE_STATIC);
   bool ok = sqlite3_step(s) == SQLITE_DONE;
   sqlite3_finalize(s);
   if (ok && sqlite3_changes(st->db) == 0) {
      *err = xasprintf("no task named '%s' (see 'offramp task list')", task);
      Store_rollback(st);
      return false;
   }
   for (int d = 0; ok && d < 3; d++) {
      if (values[d] < 0)
         continue;
      char *sql = xasprintf("UPDATE tasks SET %s = ? WHERE name = ?", cols[d]);
      s = Store_prepare(st, sql);
      free(sql);
      if (values[d] == 0)
         sqlite3_bind_null(s, 1);
      else
         sqlite3_bind_int(s, 1, values[d]);
      sqlite3_bind_text(s, 2, task, -1, SQLITE_STATIC);
      ok = sqlite3_step(s) == SQLITE_DONE;
      sqlite3_finalize(s);
   }
   if (!ok) {
      *err = Store_errmsg(st, "saving the scores");
      Store_rollback(st);
      return false;
   }
   return Store_commit(st, err);
}
