/** "Name <email>": how people are shown wherever two accounts of one person must be told apart. */
export function PersonName({ name, email }: { name: string | null; email: string | null }) {
  return (
    <span>
      <span className="font-medium text-slate-800">{name ?? "—"}</span>{" "}
      {email ? <span className="text-slate-500">&lt;{email}&gt;</span> : null}
    </span>
  );
}
