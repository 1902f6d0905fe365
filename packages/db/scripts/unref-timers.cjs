// Prisma's wasm schema engine leaves 10 s / 60 s timers running after a command has finished;
// unref them so `migrate deploy` exits as soon as it is done.
const orig = global.setTimeout;
global.setTimeout = (fn, ms, ...args) => {
  const t = orig(fn, ms, ...args);
  if (typeof ms === "number" && ms >= 5000 && t && typeof t.unref === "function") t.unref();
  return t;
};
