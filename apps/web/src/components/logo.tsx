export function Logo({ className }: { className?: string }) {
  return (
    <svg viewBox="0 0 32 32" aria-hidden="true" className={className}>
      <circle cx="16" cy="16" r="13" fill="none" stroke="currentColor" strokeWidth="4" />
      <path d="M16 3v6M16 23v6M3 16h6M23 16h6" stroke="#f97316" strokeWidth="4" strokeLinecap="round" />
    </svg>
  );
}
