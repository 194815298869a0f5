// WireCheck drives querygate's PostgreSQL wire protocol with the
// PostgreSQL JDBC driver, for pgwire_jdbc_test.go. Each line it prints is
// "name: value" for the Go test to check.
//
//   java -cp postgresql.jar:. WireCheck connect URL USER PASSWORD
//   java -cp postgresql.jar:. WireCheck run URL USER PASSWORD TABLE ATTACK...
import java.sql.*;
import java.util.Properties;

public class WireCheck {
    static Connection connect(String url, String user, String password) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", user);
        p.setProperty("password", password);
        p.setProperty("sslmode", "disable");
        p.setProperty("connectTimeout", "10");
        return DriverManager.getConnection(url, p);
    }

    public static void main(String[] args) throws Exception {
        String mode = args[0], url = args[1], user = args[2], password = args[3];
        if (mode.equals("connect")) {
            try (Connection c = connect(url, user, password)) {
                System.out.println("connected: yes");
            } catch (SQLException e) {
                System.out.println("refused: " + e.getSQLState() + " " + e.getMessage());
            }
            return;
        }
        String table = args[4];
        try (Connection c = connect(url, user, password)) {
            try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("SELECT 1+1")) {
                r.next();
                System.out.println("sum: " + r.getInt(1));
            }
            // Past prepareThreshold (5) the driver uses a named server
            // statement.
            try (PreparedStatement ps = c.prepareStatement("SELECT ?::int * 2, ?::text")) {
                int total = 0;
                for (int i = 0; i < 8; i++) {
                    ps.setInt(1, i);
                    ps.setString(2, "é" + i);
                    try (ResultSet r = ps.executeQuery()) {
                        r.next();
                        total += r.getInt(1);
                        if (!r.getString(2).equals("é" + i)) {
                            System.out.println("text: wrong " + r.getString(2));
                        }
                    }
                }
                System.out.println("prepared: " + total);
            }
            // The catalogue, as tools read it.
            try (ResultSet r = c.getMetaData().getTables(null, "public", table, new String[] {"TABLE"})) {
                System.out.println("metadata: " + (r.next() ? r.getString("TABLE_NAME") : "none"));
            }
            try (ResultSet r = c.getMetaData().getColumns(null, "public", table, null)) {
                System.out.println("columns: " + (r.next() ? r.getString("COLUMN_NAME") + " " + r.getString("TYPE_NAME") : "none"));
            }
            // A cursor fetched in chunks (a suspended portal), in a
            // transaction of the client's.
            c.setAutoCommit(false);
            try (Statement s = c.createStatement()) {
                s.setFetchSize(10);
                int n = 0;
                try (ResultSet r = s.executeQuery("SELECT g FROM generate_series(1, 95) g")) {
                    while (r.next()) {
                        n++;
                    }
                }
                System.out.println("fetched: " + n);
            }
            c.commit();
            c.setAutoCommit(true);
            // The escapes: each statement alone, and the whole list as one
            // multi-statement text (which the driver splits and sends in
            // one batch).
            StringBuilder all = new StringBuilder();
            for (int i = 5; i < args.length; i++) {
                all.append(args[i]).append(";\n");
                try (Statement s = c.createStatement()) {
                    s.execute(args[i]);
                } catch (SQLException e) {
                    // refused, as it should be (the Go test checks the table)
                }
            }
            try (Statement s = c.createStatement()) {
                s.execute(all.toString());
            } catch (SQLException e) {
            }
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + table + " VALUES (?)")) {
                ps.setInt(1, 1);
                ps.executeUpdate();
                System.out.println("insert: allowed");
            } catch (SQLException e) {
                System.out.println("insert: refused " + e.getSQLState());
            }
            // Session state for the next connection to look for.
            try (Statement s = c.createStatement()) {
                s.execute("SET search_path = leak_schema");
                s.execute("PREPARE leak_p AS SELECT 1");
                s.execute("SELECT set_config('leak.var', 'leaked', false)");
            } catch (SQLException e) {
                System.out.println("state: " + e.getMessage());
            }
            try (Connection c2 = connect(url, user, password); Statement s = c2.createStatement();
                 ResultSet r = s.executeQuery("SELECT current_setting('search_path'), coalesce(current_setting('leak.var', true), ''), "
                     + "(SELECT count(*) FROM pg_prepared_statements WHERE name = 'leak_p')")) {
                r.next();
                System.out.println("next session: " + r.getString(1) + "|" + r.getString(2) + "|" + r.getInt(3));
            }
        }
    }
}
