/* score.c - suggest suitability, impact and complexity from a task's fields (seed 000). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "control/score.h"

static const char *const dim_names[DIM_COUNT] = { "suitability", "impact", "complexity" };

const char *ScoreDim_name(ScoreDim d) {
   return d < DIM_COUNT ? dim_names[d] : "?";
}

static void crit(Score *sc, ScoreDim dim, int delta, const char *fmt, ...) ATTR_PRINTF(4, 5);
static void crit(Score *sc, ScoreDim dim, int delta, const char *fmt, ...) {
   if (sc->ncriteria == SCORE_MAX_CRITERIA)
      return;
   Criterion *c = &sc->criteria[sc->ncriteria++];
   c->dim = dim;
   c->delta = delta;
   va_list ap;
   va_start(ap, fmt);
   vsnprintf(c->text, sizeof c->text, fmt, ap);
   va_end(ap);
   sc->suggested[dim] += delta;
}

static void reason(Score *sc, const char *code, const char *fmt, ...) ATTR_PRINTF(3, 4);
static void reason(Score *sc, const char *code, const char *fmt, ...) {
   if (sc->nreasons == VERDICT_MAX_REASONS)
      return;
   sc->codes[sc->nreasons] = code;
   va_list ap;
   va_start(ap, fmt);
   vsnprintf(sc->reasons[sc->nreasons++], sizeof sc->reasons[0], fmt, ap);
   va_end(ap);
   sc->stay = true;
}

static int clamp5(int v) {
   return v < 1 ? 1 : v > 5 ? 5 : v;
}

/* Examples usable for training: what the user declared or what the logs hold, whichever
 * is larger. */
static long long available_examples(const Task *t) {
   return t->examples > t->logged ? t->examples : t->logged;
}

void Score_compute(const Task *t, Score *sc) {
   char a[32], b[32];
   memset(sc, 0, sizeof *sc);
   long long ex = available_examples(t);
   bool narrow = t->kind == KIND_LABEL || t->kind == KIND_EXTRACTION || t->kind == KIND_TOOL_CALL ||
                 t->kind == KIND_REWRITE;
   bool subjective = t->kind == KIND_OPEN_ENDED || t->kind == KIND_MULTIMODAL;

   sc->suggested[DIM_SUITABILITY] = 1;
   crit(sc, DIM_SUITABILITY, narrow, "consistent output format (%s)", OutputKind_name(t->kind));
   crit(sc, DIM_SUITABILITY, t->monthly_volume >= SCORE_LARGE_VOLUME, "large volume (%s/month, bar %s)",
        fmt_count(a, sizeof a, t->monthly_volume), fmt_count(b, sizeof b, SCORE_LARGE_VOLUME));
   crit(sc, DIM_SUITABILITY, ex >= VERDICT_MIN_EXAMPLES, "training data (%s examples, bar %s)",
        fmt_count(a, sizeof a, ex), fmt_count(b, sizeof b, VERDICT_MIN_EXAMPLES));
   crit(sc, DIM_SUITABILITY, t->domain_vocab, "domain-specific vocabulary");
   crit(sc, DIM_SUITABILITY, subjective ? -1 : 0, "subjective or creative output");

   sc->suggested[DIM_IMPACT] = 1;
   crit(sc, DIM_IMPACT, t->monthly_cost >= SCORE_HIGH_COST, "monthly cost (%s, bar %s)",
        fmt_money(a, sizeof a, t->monthly_cost, 0), fmt_money(b, sizeof b, SCORE_HIGH_COST, 0));
   crit(sc, DIM_IMPACT, t->customer_facing, "customer-facing");
   crit(sc, DIM_IMPACT, t->sla, "SLA-sensitive");
   crit(sc, DIM_IMPACT, t->revenue, "revenue-generating");

   static const struct { int base; const char *why; } cx[KIND_COUNT] = {
      [KIND_LABEL] = { 1, "simple classification" },
      [KIND_EXTRACTION] = { 1, "simple extraction" },
      [KIND_TOOL_CALL] = { 1, "a call to one of a fixed set of tools" },
      [KIND_REWRITE] = { 2, "fixed-format rewrite, multi-step" },
      [KIND_OPEN_ENDED] = { 4, "open-ended generation" },
      [KIND_MULTIMODAL] = { 5, "multimodal" },
   };
   sc->suggested[DIM_COMPLEXITY] = 0;
   crit(sc, DIM_COMPLEXITY, cx[t->kind].base, "%s", cx[t->kind].why);

   const int overrides[DIM_COUNT] = { t->suitability, t->impact, t->complexity };
   for (int d = 0; d < DIM_COUNT; d++) {
      sc->suggested[d] = clamp5(sc->suggested[d]);
      sc->overridden[d] = overrides[d] >= 1 && overrides[d] <= 5;
      sc->value[d] = sc->overridden[d] ? overrides[d] : sc->suggested[d];
   }
   sc->priority = (double)sc->value[DIM_SUITABILITY] * sc->value[DIM_IMPACT] / sc->value[DIM_COMPLEXITY];

   /* The most fundamental reason first: tables show only that one. */
   if (subjective)
      reason(sc, "open-ended", "%s output needs a frontier model", OutputKind_name(t->kind));
   if (t->monthly_volume < VERDICT_MIN_VOLUME)
      reason(sc, "volume", "low volume: %s/month < %s", fmt_count(a, sizeof a, t->monthly_volume),
             fmt_count(b, sizeof b, VERDICT_MIN_VOLUME));
   if (ex < VERDICT_MIN_EXAMPLES)
      reason(sc, "data", "too few examples: %s < %s", fmt_count(a, sizeof a, ex),
             fmt_count(b, sizeof b, VERDICT_MIN_EXAMPLES));
   if (t->changing)
      reason(sc, "changing", "still changing: wait until the prompt settles");
}
