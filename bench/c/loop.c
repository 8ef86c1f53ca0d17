/* Baseline: the plain sequential C loop over one reused libcurl easy handle (keep-alive).
 * One untimed warm-up call opens the connection, then BENCH_CALLS timed calls. */
#include "bench.h"

int main(void) {
  struct bench_config c;
  struct bench_buffer b;
  CURL *easy;
  long i, ok = 0, connects = 0;
  double wall, cpu;

  curl_global_init(CURL_GLOBAL_DEFAULT);
  bench_config_read(&c);
  easy = curl_easy_init();
  if (!easy) return 3;
  bench_setup(easy, &c, &b);
  b.len = 0;
  if (curl_easy_perform(easy) != CURLE_OK || !bench_created(easy, &b)) {
    fprintf(stderr, "warm-up call failed\n");
    return 1;
  }
  curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects); /* the warm-up's connection */
  wall = bench_clock(CLOCK_MONOTONIC);
  cpu = bench_clock(CLOCK_PROCESS_CPUTIME_ID);
  for (i = 0; i < c.calls; i++) {
    long n = 0;
    b.len = 0;
    if (curl_easy_perform(easy) == CURLE_OK && bench_created(easy, &b)) ok++;
    curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &n);
    connects += n;
  }
  wall = bench_clock(CLOCK_MONOTONIC) - wall;
  cpu = bench_clock(CLOCK_PROCESS_CPUTIME_ID) - cpu;
  bench_report(c.calls, ok, wall, cpu, connects);
  curl_easy_cleanup(easy);
  curl_slist_free_all(c.headers);
  curl_global_cleanup();
  return ok == c.calls ? 0 : 1;
}
