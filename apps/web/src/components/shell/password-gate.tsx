"use client";

import { usePathname, useRouter } from "next/navigation";
import { useEffect } from "react";
import { useMe } from "./use-me";

/**
 * An account with a temporary password must choose its own before anything else (the API refuses everything
 * else until then): send it to the account page wherever it lands.
 */
export function PasswordGate() {
  const { me } = useMe();
  const pathname = usePathname();
  const router = useRouter();
  const must = me.data?.mustChangePassword === true;
  useEffect(() => {
    if (must && pathname !== "/account") router.replace("/account");
  }, [must, pathname, router]);
  return null;
}
