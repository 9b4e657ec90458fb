/* test_score.c - score suggestions, overrides, priority and the stay-on-the-API verdict. */
#include "config.h"

#include <string.h>

#include "control/score.h"
#include "control/task.h"
#include "tap.h"

static Task base(void) {
   Task t;
   Task_init(&t);
   t.name = "t";
   t.kind = KIND_LABEL;
   t.phase = "audit";
   return t;
}

static bool has_reason(const Score *sc, const char *code) {
   for (int i = 0; i < sc->nreasons; i++) {
      if (strcmp(sc->codes[i], code) == 0)
         return true;
   }
   return false;
}

int main(void) {
   Score sc;

   /* Seed 000's pilot: high-volume ticket classification with data and domain vocabulary. */
   Task t = base();
   t.monthly_volume = 135000;
   t.monthly_cost = 340;
   t.examples = 18000;
   t.domain_vocab = true;
   t.sla = true;
   Score_compute(&t, &sc);
   is_int(sc.suggested[DIM_SUITABILITY], 5, "label + volume + data + vocabulary: suitability 5");
   is_int(sc.suggested[DIM_IMPACT], 3, "cost over the bar + SLA: impact 3");
   is_int(sc.suggested[DIM_COMPLEXITY], 1, "classification: complexity 1");
   is_near(sc.priority, 15.0, 1e-9, "priority = 5 x 3 / 1");
   ok(!sc.stay, "verdict: migrate");

   /* Each suitability criterion moves the suggestion by one. */
   t.domain_vocab = false;
   Score_compute(&t, &sc);
   is_int(sc.suggested[DIM_SUITABILITY], 4, "without domain vocabulary: 4");
   t.monthly_volume = SCORE_LARGE_VOLUME - 1;
   Score_compute(&t, &sc);
   is_int(sc.suggested[DIM_SUITABILITY], 3, "below the volume bar: 3");
   t.monthly_volume = SCORE_LARGE_VOLUME;
   Score_compute(&t, &sc);
   is_int(sc.suggested[DIM_SUITABILITY], 4, "at the volume bar counts as large");

   /* Logged examples count as data when larger than the declared number. */
   t.examples = 0;
   t.logged = 499;
   Score_compute(&t, &sc);
   is_int(sc.suggested[DIM_SUITABILITY], 3, "499 logged examples: no data point");
   ok(has_reason(&sc, "data"), "fewer than 500 examples: stay reason 'data'");
   t.logged = 500;
   Score_compute(&t, &sc);
   is_int(sc.suggested[DIM_SUITABILITY], 4, "500 logged examples: data point");
   ok(!has_reason(&sc, "data"), "500 examples is enough");

   /* Impact: each flag adds one, capped at 5. */
   t.customer_facing = t.revenue = true;
   Score_compute(&t, &sc);
   is_int(sc.suggested[DIM_IMPACT], 5, "cost + customer-facing + SLA + revenue: 5");
   t.monthly_cost = SCORE_HIGH_COST - 0.01;
   Score_compute(&t, &sc);
   is_int(sc.suggested[DIM_IMPACT], 4, "cost just under the bar: 4");

   /* Complexity by output kind: classification/extraction < rewrite < open-ended < multimodal. */
   const OutputKind kinds[] = { KIND_LABEL, KIND_EXTRACTION, KIND_REWRITE, KIND_OPEN_ENDED, KIND_MULTIMODAL };
   const int want[] = { 1, 1, 2, 4, 5 };
   for (int i = 0; i < 5; i++) {
      t.kind = kinds[i];
      Score_compute(&t, &sc);
      char name[64];
      snprintf(name, sizeof name, "complexity of %s", OutputKind_name(kinds[i]));
      is_int(sc.suggested[DIM_COMPLEXITY], want[i], name);
   }
   /* Open-ended: subjective output lowers suitability and means stay. */
   t.kind = KIND_OPEN_ENDED;
   Score_compute(&t, &sc);
   ok(sc.stay && has_reason(&sc, "open-ended"), "open-ended output: stay on the API");
   bool found_subjective = false;
   for (int i = 0; i < sc.ncriteria; i++)
      found_subjective |= sc.criteria[i].dim == DIM_SUITABILITY && sc.criteria[i].delta == -1;
   ok(found_subjective, "the subjective-output criterion is shown with -1");

   /* Verdict reasons: low volume and still changing. */
   t = base();
   t.monthly_volume = VERDICT_MIN_VOLUME - 1;
   t.examples = 1000;
   t.changing = true;
   Score_compute(&t, &sc);
   ok(sc.stay && has_reason(&sc, "volume") && has_reason(&sc, "changing"), "low volume and changing: both reasons");
   is_int(sc.nreasons, 2, "exactly two reasons");

   /* Overrides win and are reported as such; the suggestion is kept for display. */
   t = base();
   t.suitability = 2;
   t.impact = 5;
   t.complexity = 4;
   Score_compute(&t, &sc);
   ok(sc.overridden[0] && sc.overridden[1] && sc.overridden[2], "all three overridden");
   is_int(sc.value[DIM_SUITABILITY], 2, "override value used");
   is_int(sc.suggested[DIM_SUITABILITY], 2, "suggestion still computed (label only: 1 + 1)");
   is_near(sc.priority, 2.0 * 5 / 4, 1e-9, "priority from overrides");

   /* Suggestions stay within 1..5 whatever the fields. */
   t = base();
   t.kind = KIND_MULTIMODAL;
   Score_compute(&t, &sc);
   ok(sc.suggested[DIM_SUITABILITY] >= 1, "suitability clamped at 1 (got %d)", sc.suggested[DIM_SUITABILITY]);
   return tap_done();
}
