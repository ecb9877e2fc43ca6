/**
 * The broker's entry point (package.json "main"): every function Shire runs is registered here,
 * exactly as deployed to Azure Functions. Importing a module registers its functions.
 */
import { app } from "@azure/functions";

app.http("listSlugs", {
  route: "slugs",
  methods: ["GET"],
  authLevel: "anonymous",
  handler: async () => ({ status: 200, jsonBody: { slugs: [] } }),
});
