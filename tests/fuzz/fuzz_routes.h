/* fuzz_routes.h - the two routes the request-path fuzz targets attribute against: one by model
 * alias (shadow, with a candidate), one by prompt-template fingerprint. */
#ifndef OFFRAMP_FUZZ_ROUTES_H
#define OFFRAMP_FUZZ_ROUTES_H

#include <jansson.h>
#include <stdlib.h>

#include "gateway/route.h"

/* candidate: the "candidate" object of the alias route, as JSON text. Aborts on failure. */
static void fuzz_routes(Route *routes[2], const char *candidate) {
   char *err = NULL;
   json_t *c = json_loads(candidate, 0, NULL);
   json_t *a = json_pack("{s:[s], s:s, s:o}", "aliases", "intent-model", "mode", "shadow", "candidate", c);
   json_t *b = json_loads("{\"fingerprints\":[\"0123456789abcdef\"]}", 0, NULL);
   routes[0] = Route_from_json("intent", a, &err);
   routes[1] = Route_from_json("extract", b, &err);
   json_decref(a);
   json_decref(b);
   if (!routes[0] || !routes[1])
      abort();
}

#endif
