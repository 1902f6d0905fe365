// Preloaded (node --require) into the web server and worker that `lifeboat start` spawns: when the launcher
// is gone (killed with SIGKILL, so it could not stop its children), stop this process too instead of living on
// as an orphan that holds the port.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.kill(process.pid, "SIGTERM");
}, 1000).unref();
