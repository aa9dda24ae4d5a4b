/**
 * Browser entry of the GraphiQL explorer, bundled by scripts/build-graphiql.ts into one script and one stylesheet
 * served by the controller. Queries and mutations go over HTTP, subscriptions over graphql-ws on the same URL.
 */
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import 'graphiql/style.css';
import { createClient } from 'graphql-ws';
import { createRoot } from 'react-dom/client';

const container = document.getElementById('graphiql')!;
const endpoint = new URL(container.dataset.endpoint ?? '/graphql', window.location.href);
const wsEndpoint = new URL(endpoint);
wsEndpoint.protocol = endpoint.protocol === 'https:' ? 'wss:' : 'ws:';

const fetcher = createGraphiQLFetcher({
  url: endpoint.href,
  subscriptionUrl: wsEndpoint.href,
  wsClient: createClient({ url: wsEndpoint.href, lazy: true, retryAttempts: Infinity }),
});

const defaultQuery = `# blockplane GraphQL API. Ctrl-Enter runs the operation; the Docs pane lists every field.
query Cluster {
  nodes(first: 20) {
    totalCount
    edges { node { name type connectionStatus storagePools { name providerKind freeCapacityKib } } }
  }
  resourceGroups { edges { node { name selectFilter { placeCount } } } }
}
`;

createRoot(container).render(<GraphiQL fetcher={fetcher} defaultQuery={defaultQuery} />);
