/** An error in words, announced to screen readers. Pass a tRPC error, a message, or nothing. */
export function ErrorNote({
  error,
  id,
  action,
}: {
  error: { message: string } | string | null | undefined;
  id?: string;
  /** What to do next (a link or button), shown after the message. */
  action?: React.ReactNode;
}) {
  if (!error) return null;
  return (
    <div id={id} role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
      {typeof error === "string" ? error : error.message}
      {action ? <div className="mt-1">{action}</div> : null}
    </div>
  );
}
