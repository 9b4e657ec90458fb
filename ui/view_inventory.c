/* view_inventory.c - the ranked inventory: every task with volume, cost, S/I/C, priority,
 * phase and verdict, highest priority first. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "console.h"
#include "control/inventory.h"
#include "control/phase.h"
#include "control/score.h"
#include "control/task.h"

typedef struct {
   Task *ts;
   int n;
   int *shown;        /* indices into ts, ranked and filtered */
   int nshown;
   double total_cost;
   int staying;
} Inventory;

static void inv_free(Inventory *inv) {
   if (!inv)
      return;
   Task_free_list(inv->ts, inv->n);
   free(inv->shown);
   free(inv);
}

static void inv_open(View *v) {
   inv_free(v->data);
   Inventory *inv = xcalloc(1, sizeof *inv);
   inv->ts = Task_list(Console_store(), &inv->n);
   int *order = Inventory_rank(inv->ts, inv->n);
   inv->shown = xcalloc(inv->n ? inv->n : 1, sizeof *inv->shown);
   const char *f = v->filter;
   for (int i = 0; i < inv->n; i++) {
      Task *t = &inv->ts[order[i]];
      inv->total_cost += t->monthly_cost;
      Score sc;
      Score_compute(t, &sc);
      if (str_eq(t->phase, "stay") || sc.stay)
         inv->staying++;
      if (!*f || strstr(t->name, f) || strstr(t->description, f))
         inv->shown[inv->nshown++] = order[i];
   }
   free(order);
   v->data = inv;
}

static int inv_lines(View *v) {
   return ((Inventory *)v->data)->nshown;
}

static void inv_title(View *v, char *buf, size_t size) {
   snprintf(buf, size, "offramp \xc2\xb7 inventory \xc2\xb7 %s", Console_store()->path);
}

static void inv_draw(View *v, int top, int height, int width) {
   Inventory *inv = v->data;
   char line[512];
   Inventory_header(line, sizeof line, width - 1);
   Draw_text(top, 1, width - 1, Draw_attr(C_HEADING), line);
   int rows = height - 3;
   for (int r = 0; r < rows && v->offset + r < inv->nshown; r++) {
      int i = v->offset + r;
      Task *t = &inv->ts[inv->shown[i]];
      Inventory_row(t, i + 1, line, sizeof line, width - 1);
      int attr = i == v->cursor ? Draw_attr(C_CURSOR) : str_eq(t->phase, "stay") ? Draw_attr(C_DIM) : (int)A_NORMAL;
      if (i == v->cursor)
         Draw_fill(top + 1 + r, 0, width, attr);
      Draw_text(top + 1 + r, 1, width - 1, attr, line);
   }
   char cost[32], a[32];
   if (inv->n == 0)
      snprintf(line, sizeof line, "No tasks yet. Add one: offramp task add NAME --volume N --cost USD --kind label");
   else
      snprintf(line, sizeof line, "%s of %d tasks%s%s \xc2\xb7 %s/month on the API (declared) \xc2\xb7 %d to migrate, %d stay",
               fmt_count(a, sizeof a, inv->nshown), inv->n, *v->filter ? " matching " : "",
               v->filter, fmt_money(cost, sizeof cost, inv->total_cost, 0), inv->n - inv->staying,
               inv->staying);
   Draw_text(top + height - 1, 1, width - 1, Draw_attr(C_DIM), line);
   /* Keep the cursor row visible within the rows the table uses. */
   if (v->cursor >= v->offset + rows)
      v->offset = v->cursor - rows + 1;
}

static int inv_request(View *v, Action a) {
   Inventory *inv = v->data;
   if (a == ACTION_ENTER || a == ACTION_VIEW_RUNBOOK) {
      if (inv->nshown == 0) {
         Console_message("no task to open");
         return HANDLED;
      }
      Task *t = &inv->ts[inv->shown[v->cursor]];
      char *name = xstrdup(t->name);
      if (a == ACTION_ENTER) {
         Console_open_view(&task_ops, name, NULL);
      } else {
         Phase p = PHASE_AUDIT;
         Phase_parse(t->phase, &p);
         Console_open_view(&runbook_ops, Phase_runbook(p), name);
      }
      free(name);
      return REDRAW;
   }
   return NOT_HANDLED;
}

static void inv_done(View *v) {
   inv_free(v->data);
   v->data = NULL;
}

const ViewOps inventory_ops = {
   .name = "inventory",
   .open = inv_open,
   .draw = inv_draw,
   .request = inv_request,
   .done = inv_done,
   .title = inv_title,
   .lines = inv_lines,
   .cursor_line = true,
   .filters = true,
   .hint = "j/k:move Enter:open r:runbook /:filter",
};
