/* Baseline: libcurl's multi interface with BENCH_CONCURRENCY transfers in flight (HTTP/1.1:
 * that many connections; HTTP/2 over TLS: multiplexed on one). Each finished handle is reused
 * for the next call until BENCH_CALLS have finished. */
#include "bench.h"

struct slot {
  CURL *easy;
  struct bench_buffer buffer;
};

int main(void) {
  struct bench_config c;
  struct slot *slots;
  CURLM *multi;
  long i, started = 0, finished = 0, ok = 0, connects = 0;
  int running = 1;
  double wall, cpu;

  curl_global_init(CURL_GLOBAL_DEFAULT);
  bench_config_read(&c);
  if (c.concurrency < 1) c.concurrency = 1;
  slots = calloc((size_t)c.concurrency, sizeof *slots);
  multi = curl_multi_init();
  if (!slots || !multi) return 3;
  curl_multi_setopt(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, c.concurrency);

  wall = bench_clock(CLOCK_MONOTONIC);
  cpu = bench_clock(CLOCK_PROCESS_CPUTIME_ID);
  for (i = 0; i < c.concurrency && started < c.calls; i++, started++) {
    slots[i].easy = curl_easy_init();
    if (!slots[i].easy) return 3;
    bench_setup(slots[i].easy, &c, &slots[i].buffer);
    curl_easy_setopt(slots[i].easy, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(slots[i].easy, CURLOPT_PRIVATE, &slots[i]);
    slots[i].buffer.len = 0;
    curl_multi_add_handle(multi, slots[i].easy);
  }
  while (finished < c.calls && running) {
    CURLMsg *msg;
    int left;
    if (curl_multi_perform(multi, &running) != CURLM_OK) break;
    while ((msg = curl_multi_info_read(multi, &left))) {
      struct slot *s;
      long n = 0;
      if (msg->msg != CURLMSG_DONE) continue;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
      if (msg->data.result == CURLE_OK && bench_created(s->easy, &s->buffer)) ok++;
      curl_easy_getinfo(s->easy, CURLINFO_NUM_CONNECTS, &n);
      connects += n;
      finished++;
      curl_multi_remove_handle(multi, s->easy);
      if (started < c.calls) {
        started++;
        s->buffer.len = 0;
        curl_multi_add_handle(multi, s->easy);
        running = 1;
      }
    }
    if (finished < c.calls && curl_multi_poll(multi, NULL, 0, 1000, NULL) != CURLM_OK) break;
  }
  wall = bench_clock(CLOCK_MONOTONIC) - wall;
  cpu = bench_clock(CLOCK_PROCESS_CPUTIME_ID) - cpu;
  bench_report(c.calls, ok, wall, cpu, connects);
  for (i = 0; i < c.concurrency; i++) {
    if (slots[i].easy) curl_easy_cleanup(slots[i].easy);
  }
  curl_multi_cleanup(multi);
  free(slots);
  curl_slist_free_all(c.headers);
  curl_global_cleanup();
  return ok == c.calls ? 0 : 1;
}
