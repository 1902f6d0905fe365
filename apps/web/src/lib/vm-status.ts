/** What happens to the guest while it is backed up: it keeps running only if it runs now. */
export function guestDuringBackup(status: string | null | undefined): string {
  if (status === "up") return "The VM keeps running.";
  if (status === "down") return "The VM is down: its disks are copied as they are, and it stays down.";
  return "The VM's state does not change.";
}
