/* view_help.c - the help screen, generated from the action table, the bindings and the ':'
 * command table: the keys of the view it was asked from first, then the keys that work
 * everywhere, the ':' commands, and every action by topic. '/' keeps the lines that hold the
 * text (with their headings). */
#define _GNU_SOURCE 1   /* strcasestr */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "console.h"

#define KEYS_W 14
#define NAME_W 20

typedef struct {
   UText text;
   int width;         /* the screen width the text is wrapped to */
   char *heading;     /* the heading not yet added: added with the first line under it that matches */
   const char *filter;
} Help;

static void heading(Help *h, const char *fmt, const char *arg) {
   free(h->heading);
   h->heading = xasprintf(fmt, arg);
}

static void row(Help *h, const char *keys, const char *name, const char *text) {
   char *all = xasprintf("%s %s %s", keys, name, text);
   bool match = !*h->filter || strcasestr(all, h->filter);
   free(all);
   if (!match)
      return;
   if (h->heading) {
      if (h->text.n)
         UText_nl(&h->text);
      UText_nl(&h->text);
      UText_add(&h->text, Draw_attr(C_HEADING), "%s", h->heading);
      free(h->heading);
      h->heading = NULL;
   }
   /* The description wraps under itself: nothing is cut at the screen's edge. */
   char **l;
   int indent = 2 + KEYS_W + 1 + NAME_W + 1, n = Draw_wrap(text, h->width - indent - 1, &l);
   for (int i = 0; i < n; i++) {
      UText_nl(&h->text);
      UText_add(&h->text, A_BOLD, "  %-*s", KEYS_W, i ? "" : keys);
      UText_add(&h->text, A_NORMAL, " %-*s ", NAME_W, i ? "" : name);
      UText_add(&h->text, Draw_attr(C_DIM), "%s", l[i]);
   }
   Draw_free_lines(l, n);
}

static void action_row(Help *h, const char *view, Action a) {
   char keys[96];
   Keys_describe(view, a, keys, sizeof keys);
   for (int i = 0; i < Action_count; i++) {
      if (Action_info[i].action == a)
         row(h, keys[0] ? keys : "(unbound)", Action_info[i].name, Action_info[i].help);
   }
}

static void commands(Help *h, CommandKind kind, const char *title) {
   heading(h, "%s", title);
   for (int i = 0; i < Console_ncommands; i++) {
      const ConsoleCommand *c = &Console_commands[i];
      if (c->kind != kind)
         continue;
      char name[64], alias[32] = "";
      snprintf(name, sizeof name, ":%s%s%s", c->name, *c->args ? " " : "", c->args);
      if (c->alias)
         snprintf(alias, sizeof alias, "(also :%s)", c->alias);
      row(h, name, alias, c->help);
   }
}

static void help_open(View *v) {
   Help *h = v->data;
   if (h)
      UText_clear(&h->text);
   else
      v->data = h = xcalloc(1, sizeof *h);
   h->filter = v->filter;
   h->width = COLS;
   Action own[64];
   if (v->arg2) {
      int n = Keys_view_actions(v->arg2, own, (int)ARRAY_SIZE(own));
      heading(h, "Keys in the %s view", v->arg2);
      for (int i = 0; i < n; i++)
         action_row(h, v->arg2, own[i]);
   }
   int n = Keys_view_actions("generic", own, (int)ARRAY_SIZE(own));
   heading(h, "%s", "Keys in every view");
   for (int i = 0; i < n; i++)
      action_row(h, v->arg2, own[i]);
   commands(h, CMD_ANYWHERE, "Commands: type : then the command (Tab completes)");
   commands(h, CMD_DEMO, "Commands of the demo (offramp demo)");
   commands(h, CMD_SCRIPT, "Commands for key scripts (OFFRAMP_SCRIPT) and tests");
   const char *group = NULL;
   for (int i = 0; i < Action_count; i++) {
      const ActionInfo *ai = &Action_info[i];
      if (!group || !str_eq(group, ai->group)) {
         heading(h, "All keys: %s", ai->group);
         group = ai->group;
      }
      action_row(h, NULL, ai->action);
   }
   free(h->heading);
   h->heading = NULL;
   if (h->text.n == 0) {
      UText_nl(&h->text);
      UText_add(&h->text, Draw_attr(C_MISSING), "  nothing in the help matches '%s' (Esc clears the search)", v->filter);
   }
}

static int help_lines(View *v) {
   return ((Help *)v->data)->text.n;
}

static void help_draw(View *v, int top, int height, int width) {
   if (((Help *)v->data)->width != width)
      help_open(v);
   UText_draw(&((Help *)v->data)->text, v->offset, top, height, width, -1);
}

static int help_request(View *v, Action a) {
   return NOT_HANDLED;
}

static void help_title(View *v, char *buf, size_t size) {
   snprintf(buf, size, "offramp \xc2\xb7 help%s%s%s", v->arg2 ? " \xc2\xb7 from the " : "", v->arg2 ? v->arg2 : "",
            v->arg2 ? " view" : "");
   if (*v->filter) {
      size_t n = strlen(buf);
      snprintf(buf + n, size - n, " \xc2\xb7 matching '%s'", v->filter);
   }
}

static void help_done(View *v) {
   Help *h = v->data;
   if (!h)
      return;
   UText_clear(&h->text);
   free(h->heading);
   free(h);
   v->data = NULL;
}

const ViewOps help_ops = {
   .name = "help",
   .open = help_open,
   .draw = help_draw,
   .request = help_request,
   .done = help_done,
   .title = help_title,
   .lines = help_lines,
   .filters = true,
   .hint = "j/k:scroll /:search Esc:clear",
};
