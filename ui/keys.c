/* keys.c - the action table and default key bindings, both as data. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "common/util.h"

#define ACTION_INFO(group, id, name, help) { group, name, help, ACTION_##id },
const ActionInfo Action_info[] = { ACTION_LIST(ACTION_INFO) };
#undef ACTION_INFO
const int Action_count = (int)ARRAY_SIZE(Action_info);

/* The defaults, in the same form a user's bindings would take. */
static const char default_bindings[] =
   "bind generic k move-up\n"
   "bind generic <Up> move-up\n"
   "bind generic j move-down\n"
   "bind generic <Down> move-down\n"
   "bind generic <PgUp> move-page-up\n"
   "bind generic <C-b> move-page-up\n"
   "bind generic <PgDown> move-page-down\n"
   "bind generic <C-f> move-page-down\n"
   "bind generic g move-first\n"
   "bind generic <Home> move-first\n"
   "bind generic G move-last\n"
   "bind generic <End> move-last\n"
   "bind generic <Enter> enter\n"
   "bind generic q back\n"
   "bind generic <Esc> escape\n"
   "bind generic Q quit\n"
   "bind generic ? view-help\n"
   "bind generic i view-inventory\n"
   "bind generic r view-runbook\n"
   "bind generic A view-audit\n"
   "bind generic T view-touchpoints\n"
   "bind generic L view-messages\n"
   "bind generic <C-l> refresh\n"
   "bind generic / filter\n"
   "bind generic : prompt\n"
   "bind task <Tab> score-next\n"
   "bind task <S-Tab> score-prev\n"
   "bind task + score-up\n"
   "bind task = score-up\n"
   "bind task - score-down\n"
   "bind task a score-auto\n"
   "bind task s score-accept\n"
   "bind task > phase-advance\n"
   "bind task < phase-rollback\n"
   "bind task S phase-stay\n"
   "bind task e view-report\n"
   "bind task M apply-threshold\n"
   "bind task d dataset-build\n"
   "bind task t train-start\n"
   "bind task n train-next\n"
   "bind task X train-cancel\n"
   "bind task p train-pick\n"
   "bind task R view-rollout\n"
   "bind task N operate-retrain\n"
   "bind task V route-revert\n"
   "bind task v view-versions\n"
   "bind versions B deploy-rollback\n"
   "bind rollout ] rollout-step-up\n"
   "bind rollout [ rollout-step-down\n"
   "bind rollout X rollout-abort\n"
   "bind rollout F rollout-promote-full\n"
   "bind rollout P rollout-pause\n"
   "bind rollout + confidence-up\n"
   "bind rollout - confidence-down\n"
   "bind rollout V verify-up\n"
   "bind rollout v verify-down\n"
   "bind rollout D view-review\n"
   "bind review 1 grade-primary\n"
   "bind review 2 grade-candidate\n"
   "bind review 3 grade-both\n"
   "bind review 4 grade-neither\n"
   "bind review <Space> detail-scroll\n"
   "bind review u refresh\n"
   "bind runbook <Space> check-toggle\n"
   "bind runbook x check-toggle\n"
   "bind runbook ] runbook-next\n"
   "bind runbook [ runbook-prev\n"
   "bind audit o sort-next\n"
   "bind touchpoints n touchpoint-name\n"
   "bind touchpoints m touchpoint-merge\n";

typedef struct {
   char view[16];
   int key;
   Action action;
} Binding;

static Binding *bindings;
static int nbindings;

static const struct {
   const char *name;
   int key;
} key_names[] = {
   { "Up", KEY_UP }, { "Down", KEY_DOWN }, { "Left", KEY_LEFT }, { "Right", KEY_RIGHT },
   { "PgUp", KEY_PPAGE }, { "PgDown", KEY_NPAGE }, { "Home", KEY_HOME }, { "End", KEY_END },
   { "Enter", '\n' }, { "Esc", 27 }, { "Tab", '\t' }, { "S-Tab", KEY_BTAB }, { "Space", ' ' },
   { "Backspace", KEY_BACKSPACE }, { "Del", KEY_DC },
};

Action Action_by_name(const char *name) {
   for (int i = 0; i < Action_count; i++) {
      if (str_eq(name, Action_info[i].name))
         return Action_info[i].action;
   }
   return ACTION_NONE;
}

const char *Action_name(Action a) {
   for (int i = 0; i < Action_count; i++) {
      if (Action_info[i].action == a)
         return Action_info[i].name;
   }
   return "none";
}

int Keys_parse(const char *s, int *len) {
   if (s[0] == '<') {
      const char *end = strchr(s, '>');
      if (!end || end == s + 1) {
         *len = 1;
         return (unsigned char)s[0];
      }
      size_t n = (size_t)(end - s - 1);
      *len = (int)(n + 2);
      if (n == 3 && s[1] == 'C' && s[2] == '-')
         return s[3] & 0x1f;
      for (size_t i = 0; i < ARRAY_SIZE(key_names); i++) {
         if (strlen(key_names[i].name) == n && strncmp(s + 1, key_names[i].name, n) == 0)
            return key_names[i].key;
      }
      return -1;
   }
   *len = 1;
   return (unsigned char)s[0];
}

const char *Keys_name(int key, char *buf, size_t size) {
   for (size_t i = 0; i < ARRAY_SIZE(key_names); i++) {
      if (key_names[i].key == key) {
         snprintf(buf, size, "<%s>", key_names[i].name);
         return buf;
      }
   }
   if (key > 0 && key < 32)
      snprintf(buf, size, "<C-%c>", key + 'a' - 1);
   else
      snprintf(buf, size, "%c", key);
   return buf;
}

void Keys_init(void) {
   if (bindings)
      return;
   char *text = xstrdup(default_bindings);
   for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
      char view[16], key[16], action[32];
      if (sscanf(line, "bind %15s %15s %31s", view, key, action) != 3)
         die(70, "bad default binding: %s", line);
      int len, k = Keys_parse(key, &len);
      Action a = Action_by_name(action);
      if (k < 0 || a == ACTION_NONE)
         die(70, "bad default binding: %s", line);
      bindings = xrealloc(bindings, (nbindings + 1) * sizeof *bindings);
      Binding *b = &bindings[nbindings++];
      snprintf(b->view, sizeof b->view, "%s", view);
      b->key = k;
      b->action = a;
   }
   free(text);
}

Action Keys_lookup(const char *view, int key) {
   for (int i = 0; i < nbindings; i++) {
      if (bindings[i].key == key && str_eq(bindings[i].view, view))
         return bindings[i].action;
   }
   for (int i = 0; i < nbindings; i++) {
      if (bindings[i].key == key && str_eq(bindings[i].view, "generic"))
         return bindings[i].action;
   }
   return ACTION_NONE;
}

void Keys_describe(const char *view, Action a, char *buf, size_t size) {
   size_t o = 0;
   buf[0] = '\0';
   for (int i = 0; i < nbindings; i++) {
      if (bindings[i].action != a || (view && !str_eq(bindings[i].view, view) && !str_eq(bindings[i].view, "generic")))
         continue;
      char k[16];
      o += snprintf(buf + o, o < size ? size - o : 0, "%s%s", o ? " " : "", Keys_name(bindings[i].key, k, sizeof k));
   }
}

int Keys_view_actions(const char *view, Action *out, int max) {
   int n = 0;
   for (int i = 0; i < nbindings && n < max; i++) {
      if (!str_eq(bindings[i].view, view))
         continue;
      bool seen = false;
      for (int j = 0; j < n && !seen; j++)
         seen = out[j] == bindings[i].action;
      if (!seen)
         out[n++] = bindings[i].action;
   }
   return n;
}
