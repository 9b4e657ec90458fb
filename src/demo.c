/* demo.c - seed a demo workspace with five touchpoints shaped like seed 001's audit table. */
#include "config.h"

#include <stdlib.h>

#include "demo.h"
#include "task.h"
#include "util.h"

char *Demo_default_path(void) {
   const char *xdg = getenv("XDG_DATA_HOME");
   if (xdg && *xdg)
      return xasprintf("%s/offramp/demo.db", xdg);
   const char *home = getenv("HOME");
   return xasprintf("%s/.local/share/offramp/demo.db", home && *home ? home : ".");
}

/* Field values by option name, in Task_fields terms; NULL ends a task. */
static const char *const demo_tasks[][32] = {
   { "content-classification", "description", "Classify support tickets into one of 8 queues",
     "provider", "openai", "model", "gpt-4o-mini", "volume", "135000", "cost", "270",
     "input-format", "ticket text, 1-3 paragraphs", "output-format", "one label of 8",
     "quality", "90%+ accuracy", "criticality", "high", "data", "18 months of classified tickets in the CRM",
     "examples", "18000", "kind", "label", NULL },
   { "chat-responses", "description", "Answer customer questions in the support chat",
     "provider", "openai", "model", "gpt-4o", "volume", "240000", "cost", "1920",
     "input-format", "multi-turn conversation", "output-format", "free text",
     "quality", "helpful, on-policy", "criticality", "high", "data", "chat transcripts",
     "examples", "50000", "kind", "open-ended", NULL },
   { "summary-generation", "description", "Summarise a ticket thread in three bullets",
     "provider", "openai", "model", "gpt-4o-mini", "volume", "96000", "cost", "480",
     "input-format", "ticket thread", "output-format", "3 bullet points",
     "quality", "faithful, 3 bullets", "criticality", "medium", "data", "from the logs",
     "examples", "0", "kind", "rewrite", NULL },
   { "tone-analysis", "description", "Tag the customer's tone on each message",
     "provider", "openai", "model", "gpt-4o-mini", "volume", "84000", "cost", "84",
     "input-format", "one message", "output-format", "one of 5 tones",
     "quality", "85%+ accuracy", "criticality", "low", "data", "from the logs",
     "examples", "0", "kind", "label", NULL },
   { "complex-analysis", "description", "Weekly account health analysis for managers",
     "provider", "openai", "model", "gpt-4o", "volume", "18000", "cost", "1080",
     "input-format", "account history, long", "output-format", "multi-page report",
     "quality", "expert judgement", "criticality", "medium", "data", "none",
     "examples", "0", "kind", "open-ended", NULL },
};

/* Flags per task (domain-vocab, customer-facing, sla, revenue). */
static const char *const demo_flags[][4] = {
   { "yes", "no", "yes", "no" },
   { "yes", "yes", "yes", "yes" },
   { "no", "yes", "no", "no" },
   { "no", "no", "no", "no" },
   { "yes", "no", "no", "yes" },
};

static const TaskField *field(const char *option) {
   for (int i = 0; i < Task_nfields; i++) {
      if (str_eq(Task_fields[i].option, option))
         return &Task_fields[i];
   }
   die(70, "demo: unknown field %s", option);
}

bool Demo_seed(Store *st, char **err) {
   if (Store_count(st, "SELECT count(*) FROM tasks", 0) > 0)
      return true;
   static const char *const flag_names[4] = { "domain-vocab", "customer-facing", "sla", "revenue" };
   for (size_t t = 0; t < ARRAY_SIZE(demo_tasks); t++) {
      const TaskField *fields[32];
      const char *values[32];
      int n = 0;
      for (int i = 1; demo_tasks[t][i]; i += 2) {
         fields[n] = field(demo_tasks[t][i]);
         values[n++] = demo_tasks[t][i + 1];
      }
      for (int f = 0; f < 4; f++) {
         fields[n] = field(flag_names[f]);
         values[n++] = demo_flags[t][f];
      }
      if (!Task_add(st, demo_tasks[t][0], fields, values, n, err))
         return false;
   }
   return true;
}
