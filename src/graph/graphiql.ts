/**
 * The GraphiQL page. Everything it loads comes from this server (/graphiql/*): the machines it runs on have no
 * internet, and an operator's browser should not need one either.
 */
export function graphiqlPage(endpoint: string): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <title>blockplane GraphiQL</title>
  <meta name="viewport" content="width=device-width, initial-scale=1" />
  <link rel="icon" href="data:," />
  <link rel="stylesheet" href="/graphiql/graphiql.css" />
  <style>html, body, #graphiql { height: 100%; margin: 0; }</style>
</head>
<body>
  <div id="graphiql" data-endpoint="${endpoint}">Loading GraphiQL...</div>
  <script src="/graphiql/graphiql.js"></script>
</body>
</html>`;
}
