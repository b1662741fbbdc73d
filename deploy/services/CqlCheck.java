// A CQL round trip against the local Cassandra, with the Java driver that ships in
// Cassandra's own lib/ (cassandra-driver-core, shaded). Run by `cassandra.sh check` as
//   java -cp '<cassandra lib>/*' CqlCheck.java HOST PORT
// (Java's single-file source launcher: nothing to build).
import com.datastax.driver.core.Cluster;
import com.datastax.driver.core.Row;
import com.datastax.driver.core.Session;

public class CqlCheck {
  public static void main(String[] args) {
    String host = args.length > 0 ? args[0] : "127.0.0.1";
    int port = args.length > 1 ? Integer.parseInt(args[1]) : 9042;
    try (Cluster cluster = Cluster.builder().addContactPoint(host).withPort(port)
            .withoutJMXReporting().withoutMetrics().build();
         Session s = cluster.connect()) {
      Row local = s.execute("SELECT release_version, data_center FROM system.local").one();
      s.execute("CREATE KEYSPACE IF NOT EXISTS chat_smoke WITH replication = "
          + "{'class': 'SimpleStrategy', 'replication_factor': 1}");
      s.execute("CREATE TABLE IF NOT EXISTS chat_smoke.t (id int PRIMARY KEY, v text)");
      String v = "hello-" + System.nanoTime();
      s.execute("INSERT INTO chat_smoke.t (id, v) VALUES (1, ?)", v);
      String got = s.execute("SELECT v FROM chat_smoke.t WHERE id = 1").one().getString("v");
      s.execute("DROP KEYSPACE chat_smoke");
      if (!v.equals(got)) {
        System.err.println("CQL check: wrote " + v + " but read " + got);
        System.exit(1);
      }
      System.out.println("CQL query, keyspace/table create, insert/select round trip on Cassandra " + local.getString("release_version")
          + " (data center " + local.getString("data_center") + ")");
    }
  }
}
