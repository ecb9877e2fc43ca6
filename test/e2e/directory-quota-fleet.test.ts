/**
 * Entra's created-objects quota at full size: with the sandbox's quota and the broker's setting at
 * their defaults (Entra's 250), one broker installs 83 Teams slugs one after another (shire-admins
 * once, then three objects each: the sign-in app, its service principal, the slug group; the bot
 * is the slug's managed identity), and the 84th is refused up front (422, nothing written).
 *
 * It takes about 2.5 minutes on two cores, so it runs only when asked:
 * `SHIRE_FULL_QUOTA_TEST=1 npx vitest run test/e2e/directory-quota-fleet.test.ts`. The suite's
 * test/e2e/directory-quota.test.ts checks the same count scaled down (three slugs in 1 + 3 x 3).
 */
import { describe, expect, it } from "vitest";
import { install, postJson } from "./harness";
import { useInstallHost } from "../fixtures/install-host";
import { DEFAULT_DIRECTORY_OBJECT_QUOTA } from "../../src/api/directory-quota";

const TEAMS_SLUGS_PER_BROKER = 83;
const TEAMS = { channels: { teams: { enabled: true } } };
// 84 slugs in one region of one subscription: Container Apps' 15 raised, as Azure does on request.
const shire = useInstallHost({ env: { SHIRE_ENVIRONMENTS_PER_REGION: "100" } });

describe("the directory quota at Entra's 250", () => {
  it.runIf(process.env.SHIRE_FULL_QUOTA_TEST === "1")(
    `holds ${TEAMS_SLUGS_PER_BROKER} Teams slugs and refuses the next before writing anything`,
    async () => {
      shire.sandbox.setFaults({ environmentsPerRegion: 100 });
      const slugs = Array.from({ length: TEAMS_SLUGS_PER_BROKER }, (_, i) => `fleet${i}`);
      for (const slug of slugs) {
        const result = await install(shire.url, slug, TEAMS, 120_000);
        expect(result.status, slug).toBe("succeeded");
      }
      const mark = shire.mark();
      const refused = await postJson(`${shire.url}/api/slugs/fleet${TEAMS_SLUGS_PER_BROKER}/install`, TEAMS);
      expect(refused.status).toBe(422);
      expect(refused.body.error).toMatchObject({
        code: "DirectoryQuotaExceeded",
        details: { used: DEFAULT_DIRECTORY_OBJECT_QUOTA, limit: DEFAULT_DIRECTORY_OBJECT_QUOTA, needed: 3 },
      });
      expect(shire.writesSince(mark)).toEqual([]);
    },
    900_000,
  );
});
