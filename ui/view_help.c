/* view_help.c - the help screen, generated from the action table and the bindings. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "util.h"

static void help_open(View *v) {
   UText *t = v->data;
   if (t)
      UText_clear(t);
   else
      v->data = t = xcalloc(1, sizeof *t);
   const char *group = NULL;
   for (int i = 0; i < Action_count; i++) {
      const ActionInfo *ai = &Action_info[i];
      if (!group || !str_eq(group, ai->group)) {
         if (group)
            UText_nl(t);
         UText_nl(t);
         UText_add(t, Draw_attr(C_HEADING), "%s", ai->group);
         group = ai->group;
      }
      char keys[96];
      Keys_describe(NULL, ai->action, keys, sizeof keys);
      UText_nl(t);
      UText_add(t, A_BOLD, "  %-16s", keys[0] ? keys : "(unbound)");
      UText_add(t, A_NORMAL, " %-16s ", ai->name);
      UText_add(t, Draw_attr(C_DIM), "%s", ai->help);
   }
   UText_nl(t);
   UText_nl(t);
   UText_add(t, Draw_attr(C_HEADING), "Commands (type : then the command)");
   static const char *const cmds[][2] = {
      { ":task NAME", "open a task" }, { ":runbook NAME", "open a runbook" },
      { ":advance", "advance the open task" }, { ":rollback PHASE", "roll the open task back" },
      { ":filter TEXT", "filter the inventory" }, { ":save-display FILE", "write the screen to FILE" },
      { ":quit", "quit" },
   };
   for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
      UText_nl(t);
      UText_add(t, A_BOLD, "  %-20s", cmds[i][0]);
      UText_add(t, Draw_attr(C_DIM), " %s", cmds[i][1]);
   }
}

static int help_lines(View *v) {
   return ((UText *)v->data)->n;
}

static void help_draw(View *v, int top, int height, int width) {
   UText_draw(v->data, v->offset, top, height, width, -1);
}

static int help_request(View *v, Action a) {
   return NOT_HANDLED;
}

static void help_title(View *v, char *buf, size_t size) {
   snprintf(buf, size, "offramp \xc2\xb7 help \xc2\xb7 keys and commands");
}

static void help_done(View *v) {
   UText_clear(v->data);
   free(v->data);
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
};
