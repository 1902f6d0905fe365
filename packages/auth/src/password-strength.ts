import type { ZxcvbnFactory } from "@zxcvbn-ts/core";
import { APIError } from "better-auth/api";

/**
 * The least zxcvbn score (0–4) a chosen password needs: 3 stands for at least 10^8 guesses, which the
 * estimator's authors call safe against an offline attack on a slow hash such as argon2id.
 */
export const MIN_PASSWORD_SCORE = 3;

let estimator: Promise<ZxcvbnFactory> | undefined;

/**
 * A package's exports however the bundler hands them over: these packages are CommonJS for Node, and the CLI's
 * bundle (esbuild, split chunks) gives a dynamically imported CommonJS module as `default` only.
 */
function exportsOf<T extends object>(mod: T): T {
  const inner = (mod as { default?: unknown }).default;
  return (inner !== null && typeof inner === "object" ? inner : mod) as T;
}

/**
 * The estimator with the common-password, English word and name lists and the keyboard layouts. The lists are
 * megabytes: they load at the first check, never at process start (the CLI and the web server start without).
 */
function loadEstimator(): Promise<ZxcvbnFactory> {
  estimator ??= (async () => {
    const [{ ZxcvbnFactory }, common, en] = await Promise.all([
      import("@zxcvbn-ts/core").then(exportsOf),
      import("@zxcvbn-ts/language-common").then(exportsOf),
      import("@zxcvbn-ts/language-en").then(exportsOf),
    ]);
    const warnings = en.translations.warnings;
    return new ZxcvbnFactory({
      graphs: common.adjacencyGraphs,
      dictionary: { ...common.dictionary, ...en.dictionary },
      translations: {
        ...en.translations,
        // Said of the password being checked, not of passwords in general.
        warnings: {
          ...warnings,
          topTen: "This password is among the ten most common ones.",
          topHundred: "This password is among the hundred most common ones.",
          common: "This password is among the most common ones.",
          similarToCommon: "This password is close to one of the most common ones.",
          userInputs: "This password contains the account's e-mail or name.",
        },
      },
      // Off: near-misses of every dictionary word take the check from milliseconds to a second per password.
      useLevenshteinDistance: false,
    });
  })().catch((e) => {
    estimator = undefined;
    throw e;
  });
  return estimator;
}

/**
 * Why a password someone chose is too easy to guess, in a sentence or two, or null when it is strong enough.
 * `related` are the account's own words (e-mail, name): a password built from them counts as weak.
 */
export async function passwordWeakness(
  password: string,
  related: readonly string[] = [],
): Promise<string | null> {
  const zxcvbn = await loadEstimator();
  const words = related.flatMap((r) => [r, ...r.split(/[@.\s_-]+/)]).filter((w) => w.length >= 3);
  const result = zxcvbn.check(password, words);
  if (result.score >= MIN_PASSWORD_SCORE) return null;
  const why = result.feedback.warning ?? "This password would be guessed too soon.";
  return [why, ...result.feedback.suggestions].join(" ");
}

/** The 400 a weak chosen password gets, with the estimator's reason. */
export function weakPassword(weakness: string): APIError {
  return new APIError("BAD_REQUEST", { code: "PASSWORD_TOO_WEAK", message: weakness });
}
