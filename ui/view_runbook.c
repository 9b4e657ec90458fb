/* view_runbook.c - a phase runbook rendered through cmark, with its task-list items
 * checkable per task; and, drawn the same way, a task's migration report. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "console.h"
#include "control/report.h"
#include "control/runbook.h"
#include "control/task.h"

typedef struct {
   MdDoc *doc;
   int width;
   long long task_id;   /* 0: no task, items are read-only */
   char *error;
} RunbookView;

static void rb_load(View *v, int width) {
   RunbookView *rv = v->data;
   Md_free(rv->doc);
   free(rv->error);
   rv->doc = NULL;
   rv->error = NULL;
   rv->width = width;
   rv->task_id = 0;
   if (v->ops == &report_ops) {
      bool open;
      char *md = Report_markdown(Console_store(), v->arg, 0, &open, &rv->error);
      rv->doc = md ? Md_render(md, width - 2) : NULL;
      free(md);
      return;
   }
   rv->doc = Runbook_load(v->arg, width - 2, &rv->error);
   if (rv->doc && v->arg2) {
      Task t;
      Task_init(&t);
      char *err = NULL;
      if (Task_get(Console_store(), v->arg2, &t, &err)) {
         rv->task_id = t.id;
         Runbook_apply_checks(Console_store(), t.id, v->arg, rv->doc);
      }
      free(err);
      Task_clear(&t);
   }
}

static void rb_open(View *v) {
   if (!v->data)
      v->data = xcalloc(1, sizeof(RunbookView));
   rb_load(v, COLS);
}

static int rb_lines(View *v) {
   RunbookView *rv = v->data;
   return rv->doc ? rv->doc->n : 1;
}

static int md_attr(int a) {
   int attr = (int)A_NORMAL;
   if (a & MD_HEADING)
      attr |= Draw_attr(C_HEADING);
   else if (a & MD_BOLD)
      attr |= A_BOLD;
   if (a & MD_EMPH)
      attr |= A_UNDERLINE;
   if (a & MD_CODE)
      attr |= Draw_attr(C_CODE);
   if (a & MD_DIM)
      attr |= Draw_attr(C_DIM);
   return attr;
}

static void rb_draw(View *v, int top, int height, int width) {
   RunbookView *rv = v->data;
   if (width != rv->width)
      rb_load(v, width);
   if (!rv->doc) {
      Draw_text(top, 1, width - 1, Draw_attr(C_FAIL), rv->error ? rv->error : "no runbook");
      return;
   }
   for (int row = 0; row < height && v->offset + row < rv->doc->n; row++) {
      int i = v->offset + row;
      const MdLine *l = &rv->doc->lines[i];
      int sel = i == v->cursor ? Draw_attr(C_CURSOR) : 0;
      if (sel)
         Draw_fill(top + row, 0, width, sel);
      int x = 1;
      for (int r = 0; r < l->nruns && x < width; r++) {
         int attr = md_attr(l->runs[r].attr) | sel;
         if (l->check == 1 && r + 1 < l->nruns && l->runs[r].text[0] == '[')
            attr |= Draw_attr(C_OK);
         x += Draw_text(top + row, x, width - x, attr, l->runs[r].text);
      }
   }
}

static int rb_request(View *v, Action a) {
   RunbookView *rv = v->data;
   int idx = Runbook_index(v->arg);
   switch (a) {
   case ACTION_CHECK_TOGGLE: {
      if (!rv->doc || v->cursor >= rv->doc->n || rv->doc->lines[v->cursor].check < 0) {
         Console_message("not a checklist item: move to a [ ] line");
         return REDRAW;
      }
      if (!rv->task_id) {
         Console_message("open the runbook from a task (r in the task view) to check items");
         return REDRAW;
      }
      char *err = NULL;
      int state = Runbook_toggle(Console_store(), rv->task_id, v->arg, rv->doc->lines[v->cursor].key, &err);
      if (state < 0)
         Console_message("%s", err);
      else
         Console_message("%s: %s", state ? "checked" : "unchecked", rv->doc->lines[v->cursor].key);
      free(err);
      int cursor = v->cursor, offset = v->offset;
      rb_load(v, rv->width);
      v->cursor = cursor;
      v->offset = offset;
      return REDRAW;
   }
   case ACTION_RUNBOOK_NEXT:
   case ACTION_RUNBOOK_PREV: {
      int next = (idx + (a == ACTION_RUNBOOK_NEXT ? 1 : Runbook_count - 1)) % Runbook_count;
      free(v->arg);
      v->arg = xstrdup(Runbook_names[next]);
      v->cursor = v->offset = 0;
      rb_load(v, rv->width);
      return REDRAW;
   }
   case ACTION_ENTER:
      return rb_request(v, ACTION_CHECK_TOGGLE);
   default:
      return NOT_HANDLED;
   }
}

static void rb_title(View *v, char *buf, size_t size) {
   RunbookView *rv = v->data;
   if (rv->task_id && rv->doc)
      snprintf(buf, size, "offramp \xc2\xb7 runbook %s \xc2\xb7 task %s \xc2\xb7 %d/%d checked", v->arg, v->arg2,
               Runbook_done(Console_store(), rv->task_id, v->arg), rv->doc->nchecks);
   else
      snprintf(buf, size, "offramp \xc2\xb7 runbook %s", v->arg);
}

static void rb_done(View *v) {
   RunbookView *rv = v->data;
   if (!rv)
      return;
   Md_free(rv->doc);
   free(rv->error);
   free(rv);
   v->data = NULL;
}

const ViewOps runbook_ops = {
   .name = "runbook",
   .open = rb_open,
   .draw = rb_draw,
   .request = rb_request,
   .done = rb_done,
   .title = rb_title,
   .lines = rb_lines,
   .cursor_line = true,
   .hint = "j/k:move Space:check [/]:other runbook",
};

static void report_title(View *v, char *buf, size_t size) {
   snprintf(buf, size, "offramp \xc2\xb7 report %s", v->arg);
}

static int report_request(View *v, Action a) {
   (void)v;
   (void)a;
   return NOT_HANDLED;
}

const ViewOps report_ops = {
   .name = "report",
   .open = rb_open,
   .draw = rb_draw,
   .request = report_request,
   .done = rb_done,
   .title = report_title,
   .lines = rb_lines,
   .cursor_line = false,
   .hint = "j/k:scroll",
};
