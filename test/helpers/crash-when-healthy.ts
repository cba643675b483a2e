// Preloaded (node --import) into a `dart serve` by test/serving/launcher-lifecycle.test.ts:
// the launcher itself crashes with an uncaught exception as soon as its gateway answers
// /healthz ($CRASH_WHEN_HEALTHY), that is while it is still starting. A fault the test
// cannot cause from outside (a bug in the launcher), injected as such.
const url = process.env.CRASH_WHEN_HEALTHY;
if (url) {
  const timer = setInterval(() => {
    fetch(url).then(
      (r) => {
        if (!r.ok) return;
        clearInterval(timer);
        setImmediate(() => {
          throw new Error("injected launcher crash (test/helpers/crash-when-healthy.ts)");
        });
      },
      () => {},
    );
  }, 100);
}
